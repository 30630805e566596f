"""`nwc-signer deploy vercel` against a loopback fake of the Vercel REST API
(tests/vercel_api.py) and of the Blob API (nwc_signer/dev/vercel_blob_api.py), checked:

(a) the files: the layout functions/vercel/ promises (docs/vercel.md), their SHA1s, one
    reproducible hash of exactly what is uploaded, the size against the 500 MB limit;
(b) the whole deploy leaves project, environment (ROOT_SECRET sensitive), a private Blob
    store connected to the project, the first sealed state written create-only with its
    guard, every file uploaded by digest, a READY production deployment built with that
    environment; a re-run keeps the wallet and the live state; a bad token, a failed call,
    a failed build and another wallet's project are one clear line each and leave nothing
    a re-run cannot finish; every request and answer matches the published shapes
    (deploy/vercel/schema.py);
(c) neither the access token, the root secret nor the Blob token reaches output or logs;
(d) the "Deploy with Vercel" button: tests/test_vercel_button.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from deploy.vercel import api as vercel_api
from deploy.vercel import bundle, schema, setup, state, steps
from tests.vercel_api import AUTH_MARK, FakeVercel

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "vcp_test_9f3c2a71"  # noqa: S105
WATCHER_PUBKEY = "ab" * 32
MINT = "http://127.0.0.1:1"  # never contacted: creating a Cashu wallet is offline


def _source(tmp: Path) -> Path:
    """functions/vercel/ when the runtime is there, else a stand-in with the same files."""
    if all((bundle.ENTRY_DIR / n).is_file() for n in bundle.ENTRY_FILES):
        return bundle.ENTRY_DIR
    src = tmp / "functions-vercel"
    (src / "api").mkdir(parents=True)
    (src / "api" / "webhook.py").write_text("# stand-in for functions/vercel/api/webhook.py\n")
    (src / "requirements.txt").write_text("pydantic\n")
    (src / "vercel.json").write_text("{}\n")
    (src / ".python-version").write_text("3.12\n")
    return src


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source(tmp_path_factory.mktemp("vercel-src"))


@pytest.fixture
def fake() -> Any:
    with FakeVercel(token=TOKEN) as f:
        yield f


def target(tmp_path: Path, source: Path, fake: FakeVercel, **kw: Any) -> setup.Target:
    api_url, store_url = fake.blob_urls()
    opts: dict[str, Any] = {"backend": "cashu", "mint_url": MINT, **kw}
    return setup.Target(
        data_dir=tmp_path / "wallet",
        watcher_pubkey=WATCHER_PUBKEY,
        relays=["ws://127.0.0.1:1"],
        out_dir=tmp_path / "build",
        source=source,
        blob_api_url=api_url,
        blob_store_url=store_url,
        **opts,
    )


def api(fake: FakeVercel, token: str = TOKEN) -> vercel_api.Api:
    return vercel_api.Api(token, base_url=fake.base_url)


def quiet(_: str) -> None:
    pass


def no_sleep(_: float) -> None:
    pass


def run(fake: FakeVercel, t: setup.Target, token: str = TOKEN) -> setup.Outcome:
    return steps.deploy(api(fake, token), t, say=quiet, sleep=no_sleep)


# --- (a) the files --------------------------------------------------------------------


def test_bundle_layout_digests_and_hash(tmp_path: Path, source: Path) -> None:
    built = bundle.build(tmp_path / "b", source=source)
    names = [f.path for f in built.files]
    assert names == sorted(names)
    assert set(bundle.ENTRY_FILES) <= set(names)
    core = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "signer_core").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert [n for n in names if n.startswith("signer_core/")] == core
    assert set(names) == set(bundle.ENTRY_FILES) | set(core)  # nothing else: no node_modules
    for f in built.files:
        data = (built.root / f.path).read_bytes()
        assert f.sha == hashlib.sha1(data).hexdigest() and f.size == len(data)  # noqa: S324
    lines = "".join(f"{f.sha} {f.size} {f.path}\n" for f in built.files)
    assert built.digest == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    again = bundle.build(tmp_path / "c", source=source)
    assert again.digest == built.digest  # reproducible from the same checkout
    changed = tmp_path / "src2"
    shutil.copytree(source, changed, ignore=shutil.ignore_patterns("node_modules"))
    (changed / "vercel.json").write_text((changed / "vercel.json").read_text() + " ")
    assert bundle.build(tmp_path / "d", source=changed).digest != built.digest
    assert re.search(r"\d+ files, [\d.]+ MB", built.report())
    assert "500 MB" in built.report()


def test_size_is_estimated_from_the_installed_pins(tmp_path: Path, source: Path) -> None:
    reqs = (source / "requirements.txt").read_text()
    size = bundle.installed_size(reqs)
    if size is None:
        pytest.skip("the pinned packages are not all installed here")
    assert size > bundle.installed_size("pydantic\n")  # type: ignore[operator]
    assert bundle.installed_size("surely-not-installed-pkg\n") is None
    big = tmp_path / "big"
    shutil.copytree(source, big, ignore=shutil.ignore_patterns("node_modules"))
    (big / "api" / "blob.py").write_bytes(b"")
    (big / "requirements.txt").write_text(reqs)
    assert "fits" in bundle.build(tmp_path / "b", source=big).report()


def test_bundle_takes_functions_vercel_when_present(tmp_path: Path) -> None:
    complete = all((bundle.ENTRY_DIR / n).is_file() for n in bundle.ENTRY_FILES)
    if not complete:
        with pytest.raises(bundle.BundleError, match="functions/vercel/ lacks"):
            bundle.build(tmp_path / "b")
        return
    built = bundle.build(tmp_path / "b")
    for name in bundle.ENTRY_FILES:
        assert (built.root / name).read_bytes() == (bundle.ENTRY_DIR / name).read_bytes()
    assert bundle.main(["--out", str(tmp_path / "m"), "--print-hash"]) == 0


def test_print_hash_reproduces_the_uploaded_files(
    tmp_path: Path, source: Path, fake: FakeVercel, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run(fake, target(tmp_path, source, fake))
    (dep,) = fake.projects["nwc-signer"].deployments
    lines = "".join(
        f"{hashlib.sha1(b).hexdigest()} {len(b)} {p}\n"  # noqa: S324
        for p, b in sorted(dep.files.items())
    )
    assert done.digest == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    assert dep.meta == {"nwcSignerBundle": done.digest}
    if source == bundle.ENTRY_DIR:  # the checkout's own command gives the same hash
        capsys.readouterr()
        assert bundle.main(["--out", str(tmp_path / "again"), "--print-hash"]) == 0
        assert capsys.readouterr().out.strip() == done.digest


# --- (b) the whole deploy ---------------------------------------------------------------


def test_deploy_end_to_end_and_rerun(tmp_path: Path, source: Path, fake: FakeVercel) -> None:
    from functions.local.datadir import DataDir
    from signer_core.stores.vercel_blob import VercelBlobStore
    from signer_core.vault import sealed

    t = target(tmp_path, source, fake)
    done = run(fake, t)
    assert done.created_wallet and done.uri and done.uri.startswith("nostr+walletconnect://")
    assert done.url == "https://nwc-signer.vercel.app/api/webhook"
    project = fake.projects["nwc-signer"]
    folder = DataDir(t.data_dir)
    root_hex = folder.secrets().root_secret.hex()
    env = {e.key: (e.value, e.type, tuple(e.target)) for e in project.env}
    both = ("production", "preview")
    assert env["ROOT_SECRET"] == (root_hex, "sensitive", both)
    assert env["WALLET_ID"] == (done.wallet_id, "plain", both)
    assert env["WATCHER_PUBKEY"] == (WATCHER_PUBKEY, "plain", both)
    assert env["BLOB_READ_WRITE_TOKEN"][0] == fake.blob.token  # set by connecting the store
    assert set(env) == {"ROOT_SECRET", "WALLET_ID", "WATCHER_PUBKEY", "BLOB_READ_WRITE_TOKEN"}
    (store,) = fake.stores.values()
    assert store.name == "nwc-signer-state" and store.access == "private"
    assert [c["projectId"] for c in store.connections] == [project.id]
    (dep,) = project.deployments
    assert dep.id == done.deployment_id and dep.state == "READY" and dep.target == "production"
    expected = {
        p.relative_to(t.out_dir).as_posix(): p.read_bytes()
        for p in t.out_dir.rglob("*")
        if p.is_file()
    }
    assert dep.files == expected  # every file of the layout, byte for byte, by digest
    assert {"ROOT_SECRET", "WALLET_ID", "WATCHER_PUBKEY", "BLOB_READ_WRITE_TOKEN"} <= set(dep.env)
    local = folder.store().read()
    assert local is not None
    sealed_path = f"nwc-signer/{done.wallet_id}/wallet.sealed"
    assert fake.blob.blobs[sealed_path].body == local[0]
    generation = sealed.parse(local[0]).generation
    assert (
        fake.blob.blobs[f"nwc-signer/{done.wallet_id}/generation"].body
        == f"{generation}\n".encode()
    )
    assert [
        r.headers.get("x-allow-overwrite")
        for r in fake.blob.requests
        if r.method == "PUT" and dict(r.query)["pathname"] == sealed_path
    ] == ["0"]
    remembered = json.loads((t.data_dir / setup.STATE_FILE).read_text())
    assert remembered == {
        "project": "nwc-signer",
        "project_id": project.id,
        "blob_store": store.id,
        "deployment": dep.id,
        "url": done.url,
        "bundle": done.digest,
    }
    for path in (t.data_dir / "secrets").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path

    # the function moved on (a later state in the store): a re-run must leave it as it is
    api_url, store_url = fake.blob_urls()
    live = VercelBlobStore(fake.blob.token, sealed_path, api_url=api_url, store_url=store_url)
    found = live.read()
    assert found is not None
    live.write(local[0] + b"", found[1])
    moved = fake.blob.blobs[sealed_path].etag
    again = run(fake, target(tmp_path, source, fake))
    assert not again.created_wallet and again.uri is None and again.wallet_id == done.wallet_id
    assert fake.blob.blobs[sealed_path].etag == moved
    assert len(project.deployments) == 2 and project.deployments[-1].state == "READY"
    assert len(fake.stores) == 1 and len(store.connections) == 1
    assert sorted(e.key for e in project.env) == sorted(env)
    assert len(fake.projects) == 1


def test_spark_is_the_default_and_its_key_is_sensitive(
    tmp_path: Path, source: Path, fake: FakeVercel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BREEZ_API_KEY", raising=False)
    assert setup.Target(data_dir=tmp_path).backend == "spark"
    t = target(tmp_path, source, fake, backend="spark", network="mainnet", mint_url="")
    with pytest.raises(vercel_api.VercelError, match=r"needs a Breez API key: set \$BREEZ_API_KEY"):
        run(fake, t)
    assert not fake.projects and not fake.log and not t.data_dir.exists()  # nothing made
    monkeypatch.setenv("BREEZ_API_KEY", "breez-key-1234")
    done = run(
        fake, target(tmp_path, source, fake, backend="spark", network="regtest", mint_url="")
    )
    env = {e.key: (e.value, e.type) for e in fake.projects["nwc-signer"].env}
    assert env["BREEZ_API_KEY"] == ("breez-key-1234", "sensitive")
    assert done.created_wallet


def test_bad_token_is_one_line_and_makes_nothing(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    t = target(tmp_path, source, fake)
    with pytest.raises(vercel_api.VercelError) as err:
        run(fake, t, token="vcp_wrong")  # noqa: S106
    text = str(err.value)
    assert text == (
        "checking the access token: Not authorized (code forbidden) (check the "
        "access token, and --team for a team's projects)"
    )
    assert "vcp_wrong" not in text
    assert not fake.projects and not fake.stores and not t.data_dir.exists()
    done = run(fake, t)  # the same command then finishes it all
    assert done.created_wallet and fake.projects["nwc-signer"].deployments


def test_failure_after_wallet_creation_hands_over_the_uri_and_a_rerun_finishes(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    fake.fail[r"POST /v13/deployments"] = (500, "An unexpected error occurred")
    with pytest.raises(vercel_api.VercelError) as err:
        run(fake, target(tmp_path, source, fake))
    assert str(err.value).startswith(
        "creating a deployment of nwc-signer: An unexpected error occurred (code injected)\n"
    )
    assert "nostr+walletconnect://" in str(err.value)  # the only copy of the first URI
    project = fake.projects["nwc-signer"]
    assert not project.deployments and len(fake.blob.blobs) == 2  # state and guard written
    fake.fail.clear()
    done = run(fake, target(tmp_path, source, fake))
    assert not done.created_wallet and project.deployments[-1].state == "READY"


def test_failed_build_is_reported_with_its_reason(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    fake.build_failure = ("BUILD_FAILED", "pip could not install breez-sdk-spark")
    with pytest.raises(vercel_api.VercelError) as err:
        run(fake, target(tmp_path, source, fake))
    (dep,) = fake.projects["nwc-signer"].deployments
    assert str(err.value).startswith(f"deployment {dep.id} ERROR (BUILD_FAILED): pip could not")


def test_missing_files_are_uploaded_again(tmp_path: Path, source: Path, fake: FakeVercel) -> None:
    lost = hashlib.sha1((source / "vercel.json").read_bytes()).hexdigest()  # noqa: S324
    fake.lose_files = {lost}
    run(fake, target(tmp_path, source, fake))
    calls = [(e["method"], e["path"], e["status"]) for e in fake.log]
    assert calls.count(("POST", "/v13/deployments", 400)) == 1
    assert calls.count(("POST", "/v13/deployments", 200)) == 1
    uploads = [e["headers"]["x-vercel-digest"] for e in fake.log if e["path"] == "/v2/files"]
    assert uploads.count(lost) == 2 and fake.projects["nwc-signer"].deployments[0].state == "READY"


def test_a_project_of_another_wallet_is_never_touched(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    run(fake, target(tmp_path / "a", source, fake))
    project = fake.projects["nwc-signer"]
    env_before = [(e.key, e.value) for e in project.env]
    with pytest.raises(setup.WalletMismatch, match="already serves wallet"):
        run(fake, target(tmp_path / "b", source, fake))
    assert not (tmp_path / "b" / "wallet").exists()  # no wallet made for nothing
    other = tmp_path / "c"
    run(fake, target(other, source, fake, project="spare"))
    with pytest.raises(setup.WalletMismatch, match="serves wallet .* not the one in"):
        run(fake, target(other, source, fake))
    assert [(e.key, e.value) for e in project.env] == env_before
    assert len(project.deployments) == 1


def test_a_public_store_is_refused(tmp_path: Path, source: Path, fake: FakeVercel) -> None:
    api(fake).create_store(schema.CreateBlobStore(name="nwc-signer-state", access="public"))
    with pytest.raises(
        vercel_api.VercelError, match="is public: the wallet's store must be private"
    ):
        run(fake, target(tmp_path, source, fake))
    assert not fake.blob.blobs


def test_another_wallets_state_at_this_path_is_refused(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    done = run(fake, target(tmp_path / "a", source, fake, project="a"))
    other = run(fake, target(tmp_path / "b", source, fake, project="b"))
    mine = fake.blob.blobs[f"nwc-signer/{done.wallet_id}/wallet.sealed"]
    fake.blob.blobs[f"nwc-signer/{other.wallet_id}/wallet.sealed"].body = mine.body
    with pytest.raises(state.SeedError, match="belongs to another wallet"):
        api_url, store_url = fake.blob_urls()
        state.seed(
            fake.blob.token,
            tmp_path / "b" / "wallet",
            other.wallet_id,
            api_url=api_url,
            store_url=store_url,
        )


def test_requests_and_answers_follow_the_published_shapes(
    tmp_path: Path, source: Path, fake: FakeVercel
) -> None:
    run(fake, target(tmp_path, source, fake))
    checked = set()
    for e in fake.log:
        assert e["headers"]["authorization"] == AUTH_MARK
        call = (e["method"], e["path"])
        req = _model(schema.REQUESTS, call)
        if req is not None:
            req.model_validate(json.loads(e["body"]))
            checked.add(req.__name__)
        if call == ("POST", "/v2/files"):
            assert e["headers"]["content-type"] == "application/octet-stream"
            assert int(e["headers"]["content-length"]) == len(e["body"])
        if e["status"] >= 400:
            continue
        ans = _model(schema.ANSWERS, call)
        assert ans is not None or call[1].endswith("/connections"), call
        if ans is not None:
            ans.model_validate(e["answer"])
            checked.add(ans.__name__)
    assert {
        "CreateProject",
        "EnvBody",
        "CreateDeployment",
        "CreateBlobStore",
        "CreateConnection",
        "UserAnswer",
        "Project",
        "EnvList",
        "EnvCreated",
        "FileUploaded",
        "Deployment",
        "BlobStores",
        "BlobStoreAnswer",
        "Connections",
        "StoreSecrets",
    } <= checked
    upserts = [e["query"] for e in fake.log if e["path"].endswith("/env") and e["method"] == "POST"]
    assert upserts == [{"upsert": ["true"]}]

    # the checks can fail: an inlined-file (v12-style) deployment and a development-targeted
    # sensitive variable are refused, an unknown readyState does not parse
    res = api(fake).client.post(
        "/v13/deployments", json={"name": "nwc-signer", "files": [{"file": "a.py", "data": "x"}]}
    )
    assert res.status_code == 400 and res.json()["error"]["code"] == "bad_request"
    with pytest.raises(ValueError, match="cannot target development"):
        schema.EnvVarInput(
            key="ROOT_SECRET", value="x", type="sensitive", target=["production", "development"]
        )
    with pytest.raises(vercel_api.VercelError, match="does not match the published shape"):
        vercel_api.Api.parse(
            "x", schema.Deployment, {"id": "d", "url": "u", "readyState": "SUCCESS"}
        )


def _model(
    table: dict[tuple[str, str], type[BaseModel]], call: tuple[str, str]
) -> type[BaseModel] | None:
    for (method, pattern), model in table.items():
        if method == call[0] and re.fullmatch(pattern, call[1]):
            return model
    return None


def test_polling_and_the_production_host(fake: FakeVercel, tmp_path: Path, source: Path) -> None:
    a = api(fake)
    a.create_project(schema.CreateProject(name="nwc-signer"))
    built = bundle.build(tmp_path / "b", source=source)
    for f in built.files:
        a.upload(f.sha, (built.root / f.path).read_bytes())
    body = schema.CreateDeployment(
        name="nwc-signer",
        target="production",
        files=[schema.UploadedFile(file=f.path, sha=f.sha, size=f.size) for f in built.files],
    )
    dep = a.create_deployment(body)
    seen: list[str] = []
    done = a.wait(dep.id, sleep=no_sleep, on_state=seen.append)
    assert seen == ["BUILDING", "READY"] and done.aliasAssigned
    assert setup.production_host(done, "nwc-signer") == "nwc-signer.vercel.app"
    stuck = a.create_deployment(body)
    ticks = iter(range(0, 10_000, 1000))
    with pytest.raises(vercel_api.VercelError, match="still BUILDING after 900 s"):
        a.wait(stuck.id, sleep=no_sleep, clock=lambda: float(next(ticks)))


# --- the CLI, the watcher, and (c) secret hygiene ---------------------------------------


def test_cli_deploys_registers_and_leaks_nothing(
    tmp_path: Path,
    fake: FakeVercel,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from functions.local.datadir import DataDir
    from nwc_signer.cli import main
    from nwc_signer.dev.watcher import WatcherProcess
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey

    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(bundle, "ENTRY_DIR", _source(tmp_path))
    key = generate_private_key()
    key_file = tmp_path / "watcher.key"
    key_file.write_text(key.hex())
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    api_url, store_url = fake.blob_urls()
    monkeypatch.setenv(vercel_api.BASE_URL_ENV, fake.base_url)
    monkeypatch.setenv("VERCEL_BLOB_API_URL", api_url)
    monkeypatch.setenv("NWC_SIGNER_BLOB_STORE_URL", store_url)
    monkeypatch.delenv("VERCEL_TOKEN", raising=False)
    data_dir = tmp_path / "wallet"
    argv = [
        "-v",
        "deploy",
        "vercel",
        "--data-dir",
        str(data_dir),
        "--token-file",
        str(token_file),
        "--backend",
        "cashu",
        "--mint-url",
        MINT,
        "--relays",
        "ws://127.0.0.1:1",
        "--out",
        str(tmp_path / "build"),
        "--print-hash",
        "--watcher-pubkey",
        xonly_pubkey(key).hex(),
    ]
    # the function's URL is <project>.vercel.app, unreachable from here: no challenge
    no_challenge = "--no-registration-challenge"
    with WatcherProcess(tmp_path / "watcher", key_file, 0, no_challenge) as watcher:
        assert main([*argv, "--watcher-url", watcher.url]) == 0
    out, err = capfd.readouterr()
    assert "nostr+walletconnect://" in out
    assert "function URL: https://nwc-signer.vercel.app/api/webhook" in out
    digest = json.loads((data_dir / setup.STATE_FILE).read_text())["bundle"]
    assert f"bundle hash: {digest}" in out
    assert "==> watcher: registered" in err and "==> project nwc-signer: created" in err
    assert "==> state: written in the Blob store" in err and "MB unzipped" in err

    assert main(argv) == 0  # a re-run
    out2, err2 = capfd.readouterr()
    assert "nostr+walletconnect://" not in out2 and "already existed" in out2
    assert "state: already there (left as it is)" in err2

    token_file.write_text("vcp_not-the-token\n")
    assert main(argv) == 2
    out3, err3 = capfd.readouterr()
    assert err3.strip().splitlines()[-1].startswith("nwc-signer: checking the access token:")
    assert "Traceback" not in err3 and "vcp_not-the-token" not in out3 + err3

    root_hex = DataDir(data_dir).secrets().root_secret.hex()
    assert fake.projects["nwc-signer"].env_value("ROOT_SECRET") == root_hex
    records = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    for secret in (TOKEN, root_hex, fake.blob.token):
        assert secret not in out + err + out2 + err2 + out3 + err3
        assert secret not in records
