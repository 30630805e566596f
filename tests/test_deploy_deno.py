"""`nwc-signer deploy deno` against a loopback fake of the Deno Deploy v2 API
(tests/deno_api.py), checked three ways:

(a) the bundle has the layout functions/deno/ expects and every file arrives in the revision
    byte for byte (utf-8 or base64 assets);
(b) the whole deploy leaves app, config, environment (ROOT_SECRET secret), revision and the
    sealed blob in the app's Deno KV; a re-run keeps the wallet and the live state; a bad
    token, a failed build, a missing KV database and another wallet's app are one clear line
    each and leave nothing a re-run cannot finish; every request and answer matches the
    shapes derived from the published docs (deploy/deno/schema.py);
(c) neither the access token nor the root secret reaches output or any log record.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from deploy.deno import api as deno_api
from deploy.deno import bundle, schema, setup
from signer_core.protocol import seed
from tests.deno_api import AUTH_MARK, FakeDeno

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ddo_test_9f3c2a"  # noqa: S105
WATCHER_PUBKEY = "ab" * 32
MINT = "http://127.0.0.1:1"  # never contacted: creating a Cashu wallet is offline


def _source(tmp: Path) -> Path:
    """functions/deno/ when the runtime is there, else a stand-in with the same files."""
    if all((bundle.ENTRY_DIR / n).is_file() for n in bundle.ENTRY_FILES):
        return bundle.ENTRY_DIR
    src = tmp / "functions-deno"
    src.mkdir()
    (src / "main.ts").write_text('Deno.serve(() => new Response("stand-in"));\n')
    (src / "deno.json").write_text('{"unstable": ["kv"]}\n')
    (src / "entry.py").write_text("# stand-in for functions/deno/entry.py\n")
    return src


def _wheels(tmp: Path) -> Path:
    """A small stand-in of python_modules: text, a binary file, a nested package."""
    wheels = tmp / "wheels"
    (wheels / "pkg" / "sub").mkdir(parents=True)
    (wheels / "pkg" / "__init__.py").write_text("VALUE = 'é'\n")
    (wheels / "pkg" / "sub" / "_speedups.so").write_bytes(bytes(range(256)) * 4)
    (wheels / "pkg-1.0.dist-info").mkdir()
    (wheels / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\n")
    return wheels


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("deno-src")
    return _source(tmp), _wheels(tmp)


@pytest.fixture
def fake() -> Any:
    with FakeDeno(token=TOKEN) as f:
        yield f


def target(tmp_path: Path, layout: tuple[Path, Path], fake: FakeDeno, **kw: Any) -> setup.Target:
    app = kw.pop("app", "nwc-signer")
    return setup.Target(data_dir=tmp_path / "wallet", app=app, watcher_pubkey=WATCHER_PUBKEY,
                        mint_url=MINT, relays=["ws://127.0.0.1:1"], out_dir=tmp_path / "build",
                        source=layout[0], python_modules=layout[1], url=fake.app_url(app),
                        **kw)  # fmt: skip


def api(fake: FakeDeno, token: str = TOKEN) -> deno_api.Api:
    return deno_api.Api(token, base_url=fake.base_url)


def quiet(_: str) -> None:
    pass


def no_sleep(_: float) -> None:
    pass


def run(fake: FakeDeno, t: setup.Target, token: str = TOKEN) -> setup.Outcome:
    return setup.deploy(api(fake, token), t, say=quiet, sleep=no_sleep)


def ready_app(fake: FakeDeno, slug: str = "nwc-signer") -> None:
    """An app made beforehand with a KV database assigned (as in the console)."""
    api(fake).create_app(schema.CreateApp(slug=slug))
    fake.assign_kv(slug)


# --- (a) the bundle ---------------------------------------------------------------------


def test_bundle_layout_and_assets(tmp_path: Path, layout: tuple[Path, Path]) -> None:
    built = bundle.build(tmp_path / "b", source=layout[0], python_modules=layout[1])
    names = set(built.files)
    assert {"main.ts", "deno.json", "entry.py"} <= names
    assert "signer_core/pipeline.py" in names and "signer_core/stores/base.py" in names
    assert "python_modules/pkg/sub/_speedups.so" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or
                n.startswith("signer_core/tests/")]  # fmt: skip
    ours = [n for n in names if n.startswith("signer_core/")]
    assert ours and all(n.endswith(".py") for n in ours)
    got = bundle.assets(built.root, built.files)
    assert got["entry.py"]["encoding"] == "utf-8"
    assert got["python_modules/pkg/__init__.py"] == {
        "kind": "file", "encoding": "utf-8", "content": "VALUE = 'é'\n"}  # fmt: skip
    so = got["python_modules/pkg/sub/_speedups.so"]
    assert so["encoding"] == "base64" and base64.b64decode(so["content"]) == bytes(range(256)) * 4
    assert abs(built.request_bytes - len(json.dumps(got))) < len(got) * 4
    assert re.search(r"\d+ files, [\d.]+ MB raw .* MB as a deploy request; limit 1 GB",
                     built.report())  # fmt: skip


def test_bundle_takes_functions_deno_when_present(tmp_path: Path) -> None:
    complete = all((bundle.ENTRY_DIR / n).is_file() for n in bundle.ENTRY_FILES)
    if complete:
        built = bundle.build(tmp_path / "b", python_modules=_wheels(tmp_path))
        assert (built.root / "main.ts").read_bytes() == (bundle.ENTRY_DIR / "main.ts").read_bytes()
    else:
        with pytest.raises(bundle.BundleError, match="functions/deno/ lacks"):
            bundle.build(tmp_path / "b", python_modules=_wheels(tmp_path))


def test_real_vendored_wheels_are_bundled(tmp_path: Path, layout: tuple[Path, Path]) -> None:
    if not bundle.VENDORED.is_dir():
        pytest.skip("no .venv-pyodide/python_modules (scripts/bootstrap.sh makes it)")
    built = bundle.build(tmp_path / "b", source=layout[0])
    wheels = sorted(p.relative_to(bundle.VENDORED).as_posix() for p in
                    bundle.VENDORED.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and p.suffix != ".pyc")  # fmt: skip
    shipped = [n.removeprefix("python_modules/") for n in built.files
               if n.startswith("python_modules/")]  # fmt: skip
    pruned = {w for w in wheels if w.endswith(".pyi") or
              {"bin", "tests", "test"} & set(w.split("/")[:-1])}  # fmt: skip
    assert set(shipped) == set(wheels) - pruned and len(shipped) > 100
    assert any(n.startswith("python_modules/pydantic_core/") for n in built.files)


# --- (b) the whole deploy ---------------------------------------------------------------


def test_deploy_end_to_end_and_rerun(tmp_path: Path, layout: tuple[Path, Path],
                                     fake: FakeDeno) -> None:  # fmt: skip
    from functions.local.datadir import DataDir
    from signer_core.vault import sealed

    ready_app(fake)
    t = target(tmp_path, layout, fake)
    done = run(fake, t)
    assert done.created_wallet and done.uri and done.uri.startswith("nostr+walletconnect://")
    assert done.url == fake.app_url("nwc-signer")
    app = fake.apps["nwc-signer"]
    assert app.config == {"install": "deno install",
                          "runtime": {"type": "dynamic", "entrypoint": "main.ts"}}  # fmt: skip
    folder = DataDir(t.data_dir)
    env = {e.key: (e.value, e.secret) for e in app.env}
    assert env == {"ROOT_SECRET": (folder.secrets().root_secret.hex(), True),
                   "WALLET_ID": (done.wallet_id, False),
                   "WATCHER_PUBKEY": (WATCHER_PUBKEY, False)}  # fmt: skip
    (rev,) = app.revisions
    assert rev.id == done.revision_id and rev.status == "succeeded"
    built = t.out_dir
    expected = {p.relative_to(built).as_posix(): p.read_bytes() for p in built.rglob("*")
                if p.is_file()}  # fmt: skip
    assert rev.files == expected  # every file of the layout, byte for byte
    assert {"main.ts", "deno.json", "entry.py", "python_modules/pkg/sub/_speedups.so"} <= set(
        rev.files
    )
    local = folder.store().read()
    assert app.kv is not None and local is not None and app.kv["state"] == local[0]
    assert app.kv["guard"] == sealed.parse(local[0]).generation
    remembered = json.loads((t.data_dir / setup.STATE_FILE).read_text())
    assert remembered == {"app": "nwc-signer", "app_id": app.id, "revision": rev.id,
                          "url": done.url}  # fmt: skip
    for path in (t.data_dir / "secrets").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path

    # the app moved on (a later generation in KV): a re-run must leave it as it is
    app.kv["state"] = moved = local[0] + b""
    app.kv["guard"] = 99
    again = run(fake, target(tmp_path, layout, fake))
    assert not again.created_wallet and again.uri is None and again.wallet_id == done.wallet_id
    assert len(app.revisions) == 2 and app.revisions[-1].status == "succeeded"  # code re-deployed
    assert app.kv["state"] is moved and app.kv["guard"] == 99
    assert [e.key for e in app.env] == ["ROOT_SECRET", "WALLET_ID", "WATCHER_PUBKEY"]
    assert len(fake.apps) == 1


def test_first_run_without_kv_hands_over_the_uri_and_a_rerun_finishes(
    tmp_path: Path, layout: tuple[Path, Path], fake: FakeDeno
) -> None:
    t = target(tmp_path, layout, fake)
    with pytest.raises(deno_api.DenoError) as err:
        run(fake, t)
    first_line, *rest = str(err.value).splitlines()
    assert "has no Deno KV database yet" in first_line
    assert "deno deploy database assign nwc-signer-state --app nwc-signer" in first_line
    assert "nostr+walletconnect://" in str(err.value)  # the only copy of the first URI
    app = fake.apps["nwc-signer"]
    assert app.revisions[-1].status == "succeeded" and app.kv is None
    fake.assign_kv("nwc-signer")  # the user assigns a database in the console
    done = run(fake, target(tmp_path, layout, fake))
    assert not done.created_wallet and app.kv is not None and "state" in app.kv
    assert rest[-1] == ")"


def test_bad_token_is_one_line_and_makes_nothing(tmp_path: Path, layout: tuple[Path, Path],
                                                 fake: FakeDeno) -> None:  # fmt: skip
    t = target(tmp_path, layout, fake)
    with pytest.raises(deno_api.DenoError) as err:
        run(fake, t, token="ddo_wrong")  # noqa: S106
    text = str(err.value)
    assert text == ("checking the access token: The access token is missing or invalid. "
                    "(code unauthorized) (check the access token: an organization token, "
                    "ddo_...)")  # fmt: skip
    assert "ddo_wrong" not in text
    assert not fake.apps and not t.data_dir.exists()
    ready_app(fake)
    done = run(fake, t)  # the same command then finishes it all
    assert done.created_wallet and fake.apps["nwc-signer"].revisions


def test_failure_after_wallet_creation_hands_over_the_uri_and_a_rerun_finishes(
    tmp_path: Path, layout: tuple[Path, Path], fake: FakeDeno
) -> None:
    ready_app(fake)
    fake.fail[r"POST /v2/apps/[^/]+/deploy"] = (500, "Internal server error")
    with pytest.raises(deno_api.DenoError) as err:
        run(fake, target(tmp_path, layout, fake))
    assert str(err.value).startswith("deploying a revision of nwc-signer: Internal server error "
                                     "(code injected)\n")  # fmt: skip
    assert "nostr+walletconnect://" in str(err.value)
    app = fake.apps["nwc-signer"]
    assert not app.revisions and app.kv == {}
    fake.fail.clear()
    done = run(fake, target(tmp_path, layout, fake))
    assert not done.created_wallet and app.kv is not None and "state" in app.kv


def test_failed_build_is_reported_with_its_reason(tmp_path: Path, layout: tuple[Path, Path],
                                                  fake: FakeDeno) -> None:  # fmt: skip
    ready_app(fake)
    fake.build_failure = 'error: Module not found "file:///app/src/main.ts"'
    with pytest.raises(deno_api.DenoError) as err:
        run(fake, target(tmp_path, layout, fake))
    rev = fake.apps["nwc-signer"].revisions[0]
    assert str(err.value).startswith(f"revision {rev.id} failed: error: Module not found")
    assert fake.apps["nwc-signer"].kv == {}  # nothing seeded into a broken app


def test_an_app_of_another_wallet_is_never_touched(tmp_path: Path, layout: tuple[Path, Path],
                                                   fake: FakeDeno) -> None:  # fmt: skip
    ready_app(fake)
    run(fake, target(tmp_path / "a", layout, fake))
    app = fake.apps["nwc-signer"]
    env_before = [(e.key, e.value) for e in app.env]
    with pytest.raises(setup.WalletMismatch, match="already serves wallet"):
        run(fake, target(tmp_path / "b", layout, fake))
    assert not (tmp_path / "b" / "wallet").exists()  # no wallet made for nothing
    other = tmp_path / "c"  # a wallet folder of its own, pointed at the same app
    ready_app(fake, "spare")
    run(fake, target(other, layout, fake, app="spare"))
    with pytest.raises(setup.WalletMismatch, match="serves wallet .* not the one in"):
        run(fake, target(other, layout, fake))
    assert [(e.key, e.value) for e in app.env] == env_before and len(app.revisions) == 1


def test_kv_of_another_wallet_is_never_overwritten(tmp_path: Path, layout: tuple[Path, Path],
                                                   fake: FakeDeno) -> None:  # fmt: skip
    ready_app(fake, "first")
    run(fake, target(tmp_path / "a", layout, fake, app="first"))
    theirs = fake.apps["first"].kv
    assert theirs is not None
    before = theirs["state"]
    ready_app(fake)
    fake.apps["nwc-signer"].kv = theirs  # the same KV database assigned to a second app
    with pytest.raises(setup.WalletMismatch, match="holds another wallet's state"):
        run(fake, target(tmp_path / "b", layout, fake))
    assert theirs["state"] is before


def test_requests_and_answers_follow_the_published_shapes(
    tmp_path: Path, layout: tuple[Path, Path], fake: FakeDeno
) -> None:
    ready_app(fake)
    run(fake, target(tmp_path, layout, fake))
    checked = set()
    for e in fake.log:
        if not e["path"].startswith("/v2/"):
            continue
        assert e["headers"]["authorization"] == AUTH_MARK
        call = (e["method"], e["path"].removeprefix("/v2"))
        req = _model(schema.REQUESTS, call)
        if req is not None:
            req.model_validate(json.loads(e["body"]))
            checked.add(req.__name__)
        ans = _model(schema.ANSWERS, call)
        assert ans is not None, call
        for item in e["answer"] if isinstance(e["answer"], list) else [e["answer"]]:
            ans.model_validate(item)
            checked.add(ans.__name__)
    assert {"CreateApp", "UpdateApp", "DeployRequest", "AppListItem", "App",
            "Revision"} <= checked  # fmt: skip

    # the check can fail: a v1-shaped deploy is refused, a v1 status does not parse
    res = api(fake).client.post("/apps/nwc-signer/deploy", json={
        "entryPointUrl": "main.ts", "envVars": {"A": "b"},
        "assets": {"main.ts": {"content": "x", "encoding": "utf-8"}}})  # fmt: skip
    assert res.status_code == 400 and res.json()["code"] == "invalidBody"
    with pytest.raises(deno_api.DenoError, match="does not match the published shape"):
        deno_api.Api.parse("x", schema.Revision, {"id": "r", "status": "success",
                                                  "created_at": "t"})  # fmt: skip
    with pytest.raises(ValueError, match="not allowed"):
        schema.EnvVarInput(key="DENO_KV_PATH", value="x")


def _model(table: dict[tuple[str, str], type[BaseModel]], call: tuple[str, str]
           ) -> type[BaseModel] | None:  # fmt: skip
    for (method, pattern), model in table.items():
        if method == call[0] and re.fullmatch(pattern, call[1]):
            return model
    return None


ONE_FILE = schema.DeployRequest.model_validate(
    {"assets": {"main.ts": {"kind": "file", "encoding": "utf-8", "content": "x"}}}
)


def test_polling_and_the_production_url(fake: FakeDeno) -> None:
    ready_app(fake)
    a = api(fake)
    rev = a.deploy("nwc-signer", ONE_FILE)
    seen: list[str] = []
    done = a.wait(rev.id, sleep=no_sleep, on_status=seen.append)
    assert done.status == "succeeded" and seen == ["building", "succeeded"]
    assert a.production_url(rev.id) == "https://nwc-signer.alice.deno.net"
    stuck = a.deploy("nwc-signer", ONE_FILE)
    ticks = iter(range(0, 10_000, 1000))
    with pytest.raises(deno_api.DenoError, match="still building after 900 s"):
        a.wait(stuck.id, sleep=no_sleep, clock=lambda: float(next(ticks)))


def test_seed_signature() -> None:
    root, wallet = bytes(range(32)), "w" * 16
    headers, body = seed.build(root, wallet, b"blob", now=1_000_000)
    h = headers[seed.HEADER]
    assert seed.verify(root, wallet, h, body, now=1_000_100)
    assert not seed.verify(root, wallet, h, body, now=1_000_301)  # stale
    assert not seed.verify(bytes(32), wallet, h, body, now=1_000_000)  # another root secret
    assert not seed.verify(root, "x" * 16, h, body, now=1_000_000)  # another wallet
    assert not seed.verify(root, wallet, h, body + b" ", now=1_000_000)  # tampered body
    assert not seed.verify(root, wallet, "١٠٠٠٠٠٠" + h[7:], body, now=1_000_000)  # non-ASCII
    assert not seed.verify(root, wallet, None, body, now=1_000_000)


# --- the CLI, the watcher, and (c) secret hygiene ---------------------------------------


def test_cli_deploys_registers_and_leaks_nothing(
    tmp_path: Path, fake: FakeDeno, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    from functions.local.datadir import DataDir
    from nwc_signer.cli import main
    from nwc_signer.dev.watcher import WatcherProcess
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey

    caplog.set_level(logging.DEBUG)
    source = _source(tmp_path)
    monkeypatch.setattr(bundle, "ENTRY_DIR", source)
    if not bundle.VENDORED.is_dir():
        monkeypatch.setattr(bundle, "VENDORED", _wheels(tmp_path))
    key = generate_private_key()
    key_file = tmp_path / "watcher.key"
    key_file.write_text(key.hex())
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv(deno_api.BASE_URL_ENV, fake.base_url)
    monkeypatch.delenv("DENO_DEPLOY_TOKEN", raising=False)
    ready_app(fake)
    data_dir = tmp_path / "wallet"
    argv = ["-v", "deploy", "deno", "--data-dir", str(data_dir), "--token-file",
            str(token_file), "--mint-url", MINT, "--relays", "ws://127.0.0.1:1",
            "--out", str(tmp_path / "build"), "--url", fake.app_url("nwc-signer"),
            "--watcher-pubkey", xonly_pubkey(key).hex()]  # fmt: skip
    # the fake platform's URL cannot answer the watcher's registration challenge (tested in
    # tests/conformance and tests/test_watcher_tenants.py)
    no_challenge = "--no-registration-challenge"
    with WatcherProcess(tmp_path / "watcher", key_file, 0, no_challenge) as watcher:
        assert main([*argv, "--watcher-url", watcher.url]) == 0
    out, err = capfd.readouterr()
    assert "nostr+walletconnect://" in out and f"app URL: {fake.app_url('nwc-signer')}" in out
    assert "==> watcher: registered" in err and "==> app nwc-signer: exists" in err
    assert "==> state: written in the app's Deno KV" in err and "MB as a deploy request" in err

    assert main(argv) == 0  # a re-run
    out2, err2 = capfd.readouterr()
    assert "nostr+walletconnect://" not in out2 and "already existed" in out2
    assert "state: already there (left as it is)" in err2

    token_file.write_text("ddo_not-the-token\n")
    assert main(argv) == 2
    out3, err3 = capfd.readouterr()
    assert err3.strip().splitlines()[-1].startswith("nwc-signer: checking the access token:")
    assert "Traceback" not in err3 and "ddo_not-the-token" not in out3 + err3

    root_hex = DataDir(data_dir).secrets().root_secret.hex()
    assert fake.apps["nwc-signer"].env_value("ROOT_SECRET") == root_hex
    records = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert records, "the debug logs were captured"
    for secret in (TOKEN, root_hex):
        assert secret not in out + err + out2 + err2 + out3 + err3
        assert secret not in records


def test_the_app_installs_only_the_runtime_npm_packages(tmp_path: Path) -> None:
    """functions/deno/package.json also pins the local `deno` binary package (~100 MB): the
    app's package.json must not make `deno install` on Deploy fetch it."""
    built = bundle.build(tmp_path / "app")
    doc = json.loads((built.root / "package.json").read_text())
    pinned = json.loads((bundle.ENTRY_DIR / "package.json").read_text())["dependencies"]
    assert doc["dependencies"] == {"pyodide": pinned["pyodide"]}
    assert "package-lock.json" not in built.files
