"""`nwc-signer deploy cloudflare` against a loopback fake of the Cloudflare API
(tests/cloudflare_api.py), checked three ways:

(a) the Worker upload equals what the real wrangler 4.164.0 uploads from the same folder
    (metadata, and every module part's name, filename, content type and bytes);
(b) the whole deploy leaves bucket, database, secrets, sealed blob, guard row and route
    in place, through the SDK with strict response validation (the fake's answers parse with
    the SDK's own models), a re-run keeps the wallet, a bad token is one clear line;
(c) neither the API token nor the root secret reaches output or any log record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.cloudflare import api as cf_api
from deploy.cloudflare import bundle, setup, upload
from tests.cloudflare_api import FakeCloudflare, Part

ROOT = Path(__file__).resolve().parents[1]
CF = ROOT / "functions" / "cloudflare"
NODE = CF / "node_modules" / ".bin" / "node"
WRANGLER = CF / "node_modules" / "wrangler" / "bin" / "wrangler.js"
FIXTURE = ROOT / "tests" / "fixtures" / "cloudflare" / "wrangler_deploy.json"
TOKEN = "cf-test-token-7d1e"  # noqa: S105
WATCHER_PUBKEY = "ab" * 32
MINT = "http://127.0.0.1:1"  # never contacted: creating a Cashu wallet is offline

needs_wrangler = pytest.mark.skipif(
    not (NODE.exists() and WRANGLER.exists()),
    reason="wrangler/node not installed in functions/cloudflare (scripts/bootstrap.sh runs npm ci)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> bundle.Bundle:
    return bundle.build(tmp_path_factory.mktemp("cf") / "bundle")


@pytest.fixture
def fake() -> Any:
    with FakeCloudflare(token=TOKEN) as f:
        yield f


def strict_api(fake: FakeCloudflare, token: str = TOKEN, account: str | None = "acc1") -> Any:
    return cf_api.Api(token, account, base_url=fake.base_url, strict=True)


def wrangler(folder: Path, fake: FakeCloudflare, *args: str, stdin: str = "") -> str:
    env = {**os.environ, "CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": "acc1",
           "CLOUDFLARE_API_BASE_URL": fake.base_url, "WRANGLER_SEND_METRICS": "false",
           "CI": "true", "HOME": str(folder.parent)}  # fmt: skip
    proc = subprocess.run([str(NODE), str(WRANGLER), *args], cwd=folder, env=env, input=stdin,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def parts_view(parts: list[Part]) -> dict[str, tuple[str | None, str | None, str]]:
    return {p.name: (p.filename, p.content_type, hashlib.sha256(p.data).hexdigest())
            for p in parts}  # fmt: skip


# --- (a) the upload equals wrangler's --------------------------------------------------


@needs_wrangler
def test_upload_matches_real_wrangler(built: bundle.Bundle, fake: FakeCloudflare) -> None:
    api = strict_api(fake)
    api.ensure_bucket("s-state")
    database_id, _ = api.ensure_database("s-guard")
    folder = built.src.parent
    config = bundle.wrangler_config(
        name="by-wrangler", compatibility_date=upload.COMPATIBILITY_DATE, bucket="s-state",
        database_name="s-guard", database_id=database_id, watcher_pubkey=WATCHER_PUBKEY,
    )  # fmt: skip
    bundle.write_wrangler_config(folder, config)
    start = len(fake.log)
    wrangler(folder, fake, "deploy")
    theirs = fake.scripts["by-wrangler"]
    their_put = [e for e in fake.log[start:] if e["method"] == "PUT" and
                 e["path"].endswith("/scripts/by-wrangler")][0]  # fmt: skip

    meta = upload.metadata(bucket="s-state", database_id=database_id,
                           watcher_pubkey=WATCHER_PUBKEY)  # fmt: skip
    api.put_script("by-us", *upload.multipart_fields(meta, built.modules))
    ours = fake.scripts["by-us"]
    our_put = fake.log[-1]

    assert ours.metadata == theirs.metadata  # no allowed difference in the metadata
    assert parts_view(ours.parts) == parts_view(theirs.parts)
    assert [p.name for p in ours.parts][0] == [p.name for p in theirs.parts][0] == "worker.py"
    assert our_put["query"] == their_put["query"] == "excludeScript=true&bindings_inherit=strict"
    # wrangler also switched the route on (and set no cron: the Worker has no scheduled
    # handler, the watcher's wake-ups serve wake_at); deploy() does the same calls
    assert theirs.subdomain_enabled and theirs.schedules == []
    if os.environ.get("NWC_RECORD_WRANGLER"):  # refresh the documentation fixture
        blob = folder / "blob.bin"
        blob.write_bytes(b"sealed blob")
        wrangler(folder, fake, "secret", "put", "ROOT_SECRET", stdin="00" * 32)
        wrangler(folder, fake, "r2", "bucket", "create", "made-by-wrangler")
        wrangler(folder, fake, "d1", "create", "made-by-wrangler")
        wrangler(folder, fake, "r2", "object", "put", "s-state/wallet.sealed", "--file",
                 str(blob), "--remote")  # fmt: skip
        wrangler(folder, fake, "d1", "execute", "s-guard", "--remote", "-y", "--command",
                 setup.GUARD_SCHEMA)  # fmt: skip
        _record(fake.log[start:])


def _record(log: list[dict[str, Any]]) -> None:
    calls = []
    for e in log:
        if not e["headers"].get("user-agent", "").startswith("wrangler/"):
            continue  # our own upload, made between wrangler's calls
        call: dict[str, Any] = {"method": e["method"], "path": e["path"], "query": e["query"],
                                "content_type": e["headers"].get("content-type", "")}  # fmt: skip
        if call["content_type"].startswith("multipart/"):
            from tests.cloudflare_api import parse_multipart

            parts = parse_multipart(call["content_type"], e["body"])
            call["metadata"] = json.loads(parts[0].data)
            call["parts"] = [[p.name, p.content_type, len(p.data)] for p in parts[1:]]
        elif e["body"]:
            call["body"] = e["body"].decode()
        calls.append(call)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({"wrangler": "4.164.0", "calls": calls}, indent=1) + "\n")


def test_recorded_wrangler_upload_has_our_shape() -> None:
    """Offline, from the committed recording: the same metadata keys and binding shapes."""
    calls = json.loads(FIXTURE.read_text())["calls"]
    put = [c for c in calls if c["method"] == "PUT" and "metadata" in c][0]
    theirs = put["metadata"]
    ours = upload.metadata(bucket="s-state", database_id=theirs["bindings"][2]["id"],
                           watcher_pubkey=WATCHER_PUBKEY)  # fmt: skip
    assert ours == theirs
    assert put["query"] == "excludeScript=true&bindings_inherit=strict"
    types = {ctype for name, ctype, _ in put["parts"] if name.startswith("python_modules/")}
    assert types == {bundle.DATA_TYPE}
    assert {ctype for name, ctype, _ in put["parts"] if name.endswith(".py") and
            not name.startswith("python_modules/")} == {bundle.PY_TYPE}  # fmt: skip


def test_bundle_layout_and_size(built: bundle.Bundle) -> None:
    names = [m.name for m in built.modules]
    assert names[0] == "worker.py" and "signer_core/pipeline.py" in names
    assert "signer_core/wallets/spark/wallet.py" in names  # ships: see bundle.py
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("python_modules/bin/")]
    assert any(n.startswith("python_modules/pydantic_core/") for n in names)
    assert built.raw_bytes <= bundle.LIMIT_RAW
    assert "fits the 64 MiB (uncompressed) limit" in built.report()


# --- (b) the whole deploy --------------------------------------------------------------


def target(tmp_path: Path, built: bundle.Bundle, **kw: Any) -> setup.Target:
    return setup.Target(data_dir=tmp_path / "wallet", watcher_pubkey=WATCHER_PUBKEY,
                        mint_url=MINT, relays=["ws://127.0.0.1:1"],
                        out_dir=built.src.parent, **kw)  # fmt: skip


def test_deploy_end_to_end_and_rerun(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    from functions.local.datadir import DataDir
    from signer_core.vault import sealed

    t = target(tmp_path, built)
    done = setup.deploy(strict_api(fake, account=None), t, say=lambda s: None)
    assert done.created_wallet and done.uri and done.uri.startswith("nostr+walletconnect://")
    assert done.url == "https://nwc-signer.alice.workers.dev"
    assert set(fake.buckets) == {"nwc-signer-state"}
    assert [d.name for d in fake.databases.values()] == ["nwc-signer-guard"]
    script = fake.scripts["nwc-signer"]
    assert script.subdomain_enabled and script.schedules == []
    folder = DataDir(t.data_dir)
    assert script.secrets == {"ROOT_SECRET": folder.secrets().root_secret.hex(),
                              "WALLET_ID": done.wallet_id}  # fmt: skip
    blob = fake.buckets["nwc-signer-state"]["wallet.sealed"]
    local = folder.store().read()
    assert local is not None and blob == local[0]
    header = sealed.parse(blob)
    assert header.wallet_id == done.wallet_id
    assert fake.rows("nwc-signer-guard", "SELECT id, high_water FROM guard") == [
        ("wallet", header.generation)
    ]
    assert json.loads((t.data_dir / "cloudflare.json").read_text())["url"] == done.url
    for path in (t.data_dir / "secrets").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path

    # the Worker moved on (its guard is higher now): a re-run must not lower it
    fake.databases[next(iter(fake.databases))].db.execute("UPDATE guard SET high_water = 99")
    uploads = script.uploads
    again = setup.deploy(strict_api(fake), target(tmp_path, built), say=lambda s: None)
    assert not again.created_wallet and again.uri is None and again.wallet_id == done.wallet_id
    assert fake.scripts["nwc-signer"].uploads == uploads + 1  # code re-deployed
    assert fake.rows("nwc-signer-guard", "SELECT high_water FROM guard") == [(99,)]
    assert len(fake.databases) == 1 and set(fake.buckets) == {"nwc-signer-state"}


def test_bucket_of_another_wallet_is_never_overwritten(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    setup.deploy(strict_api(fake), target(tmp_path / "a", built), say=lambda s: None)
    theirs = fake.buckets["nwc-signer-state"]["wallet.sealed"]
    with pytest.raises(setup.WalletMismatch, match="another wallet"):
        setup.deploy(strict_api(fake), target(tmp_path / "b", built), say=lambda s: None)
    assert fake.buckets["nwc-signer-state"]["wallet.sealed"] == theirs


def test_bad_token_is_one_line_and_makes_nothing(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    t = target(tmp_path, built)
    with pytest.raises(cf_api.CloudflareError) as err:
        setup.deploy(strict_api(fake, token="wrong"), t, say=lambda s: None)  # noqa: S106
    assert "Authentication error (code 10000)" in str(err.value) and "\n" not in str(err.value)
    assert "wrong" not in str(err.value)
    assert not fake.buckets and not fake.scripts and not t.data_dir.exists()
    done = setup.deploy(strict_api(fake), t, say=lambda s: None)  # the same run finishes it all
    assert done.created_wallet and "wallet.sealed" in fake.buckets["nwc-signer-state"]


def test_failure_after_wallet_creation_hands_over_the_uri_and_a_rerun_finishes(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    t = target(tmp_path, built)
    fake.fail[r"PUT .*/secrets$"] = (500, 10013, "An unknown error has occurred")
    with pytest.raises(cf_api.CloudflareError) as err:
        setup.deploy(strict_api(fake), t, say=lambda s: None)
    assert "An unknown error has occurred (code 10013)" in str(err.value)
    assert "nostr+walletconnect://" in str(err.value)  # the only copy of the first URI
    assert "wallet.sealed" not in fake.buckets["nwc-signer-state"]
    fake.fail.clear()
    done = setup.deploy(strict_api(fake), target(tmp_path, built), say=lambda s: None)
    assert not done.created_wallet
    assert set(fake.scripts["nwc-signer"].secrets) == {"ROOT_SECRET", "WALLET_ID"}
    assert "wallet.sealed" in fake.buckets["nwc-signer-state"]


@needs_wrangler
def test_existing_worker_after_the_button(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare
) -> None:
    """The button deploys with wrangler; --existing-worker only adds the wallet to it."""
    api = strict_api(fake)
    api.ensure_bucket("btn-state")
    database_id, _ = api.ensure_database("btn-guard")
    config = bundle.wrangler_config(
        name="nwc-signer", compatibility_date=upload.COMPATIBILITY_DATE, bucket="btn-state",
        database_name="btn-guard", database_id=database_id, watcher_pubkey=WATCHER_PUBKEY,
    )  # fmt: skip
    bundle.write_wrangler_config(built.src.parent, config)
    wrangler(built.src.parent, fake, "deploy")
    t = setup.Target(data_dir=tmp_path / "w", mint_url=MINT, out_dir=tmp_path / "unused")
    done = setup.deploy(api, t, existing_worker=True, say=lambda s: None)
    assert t.bucket == "btn-state" and t.watcher_pubkey == WATCHER_PUBKEY
    assert "wallet.sealed" in fake.buckets["btn-state"]
    assert fake.scripts["nwc-signer"].uploads == 1  # the code is the button's
    assert set(fake.scripts["nwc-signer"].secrets) == {"ROOT_SECRET", "WALLET_ID"}
    assert fake.rows("btn-guard", "SELECT id FROM guard") == [("wallet",)]
    assert done.uri and not (tmp_path / "unused").exists()


# --- the CLI, the watcher, and (c) secret hygiene --------------------------------------


def test_cli_deploys_registers_and_leaks_nothing(
    tmp_path: Path, built: bundle.Bundle, fake: FakeCloudflare,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    from functions.local.datadir import DataDir
    from nwc_signer.cli import main
    from nwc_signer.dev.watcher import WatcherProcess
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey

    caplog.set_level(logging.DEBUG)
    key = generate_private_key()
    key_file = tmp_path / "watcher.key"
    key_file.write_text(key.hex())
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv(cf_api.BASE_URL_ENV, fake.base_url)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    data_dir = tmp_path / "wallet"
    argv = ["-v", "deploy", "cloudflare", "--data-dir", str(data_dir), "--token-file",
            str(token_file), "--account-id", "acc1", "--mint-url", MINT, "--relays",
            "ws://127.0.0.1:1", "--out", str(built.src.parent),
            "--watcher-pubkey", xonly_pubkey(key).hex()]  # fmt: skip
    # the fake platform's URL cannot answer the watcher's registration challenge (tested in
    # tests/conformance and tests/test_watcher_tenants.py)
    no_challenge = "--no-registration-challenge"
    with WatcherProcess(tmp_path / "watcher", key_file, 0, no_challenge) as watcher:
        assert main([*argv, "--watcher-url", watcher.url]) == 0
    out, err = capfd.readouterr()
    assert "nostr+walletconnect://" in out and "worker URL: https://nwc-signer." in out
    assert "==> watcher: registered" in err and "==> R2 bucket nwc-signer-state: created" in err

    assert main(argv) == 0  # a re-run
    out2, err2 = capfd.readouterr()
    assert "nostr+walletconnect://" not in out2 and "already existed" in out2

    token_file.write_text("not-the-token\n")
    assert main(argv) == 2
    out3, err3 = capfd.readouterr()
    assert err3.strip().splitlines()[-1].startswith("nwc-signer: listing") or (
        "Authentication error" in err3)  # fmt: skip
    assert "Traceback" not in err3 and "not-the-token" not in out3 + err3

    root_hex = DataDir(data_dir).secrets().root_secret.hex()
    assert fake.scripts["nwc-signer"].secrets["ROOT_SECRET"] == root_hex
    records = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert records, "the debug logs were captured"
    for secret in (TOKEN, root_hex):
        assert secret not in out + err + out2 + err2 + out3 + err3
        assert secret not in records


def test_sdk_debug_logging_is_held_back(fake: FakeCloudflare, caplog: pytest.LogCaptureFixture,
                                        ) -> None:  # fmt: skip
    """The SDK logs request bodies at debug level: a secret value would be in them."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("cloudflare").setLevel(logging.DEBUG)
    api = strict_api(fake)  # holds the SDK's logger back again
    api.ensure_bucket("b")
    assert not [r for r in caplog.records if r.getMessage().startswith("Request options")]


def test_sdk_stays_off_the_signer_cold_path() -> None:
    code = ("import sys, functions.local.server, signer_core.pipeline; "
            "print('cloudflare' in sys.modules)")  # fmt: skip
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "False"


# --- the Deploy to Cloudflare button layout --------------------------------------------


@needs_wrangler
def test_button_layout_builds_and_wrangler_accepts_it(tmp_path: Path) -> None:
    """The repository root as the button sees it: package.json's build, then
    `wrangler deploy --dry-run --outdir` on the root wrangler.jsonc (offline)."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("wrangler.jsonc", "package.json"):
        shutil.copyfile(ROOT / name, work / name)
    scripts = json.loads((ROOT / "package.json").read_text())["scripts"]
    assert "deploy.cloudflare.bundle" in scripts["build"] and "wrangler deploy" in scripts["deploy"]
    assert bundle.main(["--out", str(work / "build" / "cloudflare"),
                        "--python-modules", str(work / "python_modules")]) == 0  # fmt: skip
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "true", "HOME": str(tmp_path)}
    proc = subprocess.run([str(NODE), str(WRANGLER), "deploy", "--dry-run", "--outdir",
                           str(tmp_path / "out")], cwd=work, env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--dry-run: exiting now." in proc.stdout
    assert "STATE" in proc.stdout and "GUARD" in proc.stdout and "WATCHER_PUBKEY" in proc.stdout
    # no secret for the button to ask for: --existing-worker sets ROOT_SECRET and WALLET_ID
    assert not (ROOT / ".dev.vars.example").exists()
