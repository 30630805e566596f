"""`functions/cloudflare/worker.py`: the Worker entry in Pyodide on Node, over miniflare's R2
(state) and D1 (rollback guard), served by `pyodide_host.mjs serve` over real HTTP.

The wallet is made on CPython in a local folder (as `wallet create` does) and its sealed blob
is put into the R2 bucket through the host's test-only `/__admin/` routes; `add_app` pulls
the newest blob into the folder, adds the connection there, and pushes it back.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from functions.local.datadir import DataDir
from signer_core.protocol.webhook import WebhookResponse, parse_response
from signer_core.stores.r2 import R2Store
from signer_core.vault.sealed import parse
from tests.nwc import App, LocalWallet

HOST_DIR = Path(__file__).resolve().parents[3] / "functions" / "cloudflare"
NODE = HOST_DIR / "node_modules" / ".bin" / "node"
VENDORED = HOST_DIR.parents[1] / ".venv-pyodide" / "python_modules"


class CloudflareTarget:
    store_class = R2Store
    # the store lives in another process (Node): monkeypatching R2Store here reaches nothing
    store_faults_in_process = False

    def __init__(self, wallet: LocalWallet, url: str) -> None:
        self.wallet = wallet
        self.watcher_secret = wallet.watcher_secret
        self.url = url
        self.http = httpx.Client(timeout=120)
        self.folder = DataDir(wallet.path)
        self.last_cpu_ms = 0.0
        self.last_wall_ms = 0.0

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        res = self.http.post(self.url + "/", content=body, headers=headers)
        self.last_cpu_ms = float(res.headers.get("x-host-cpu-ms", "0"))
        self.last_wall_ms = float(res.headers.get("x-host-wall-ms", "0"))
        return parse_response(res.status_code, res.headers, res.content)

    def add_app(self, name: str) -> App:
        self._pull()
        app = self.wallet.add_app(name=name)
        self._push()
        return app

    def blob(self) -> bytes:
        res = self.http.get(self.url + "/__admin/state")
        res.raise_for_status()
        return res.content

    def _pull(self) -> None:
        res = self.http.get(self.url + "/__admin/state")
        res.raise_for_status()
        store, mine = self.folder.store(), self.folder.store().read()
        theirs = parse(res.content).generation
        if mine is None or theirs > parse(mine[0]).generation:
            store.write(res.content, None if mine is None else mine[1])
            self.folder.guard().advance(theirs)

    def _push(self, first: bool = False) -> None:
        found = self.folder.store().read()
        assert found is not None
        headers = {}
        if not first:
            current = self.http.get(self.url + "/__admin/state")
            current.raise_for_status()
            headers["if-match"] = current.headers["etag"]
        res = self.http.put(self.url + "/__admin/state", content=found[0], headers=headers)
        assert res.status_code == 200, res.status_code
        generation = parse(found[0]).generation
        assert self.http.post(f"{self.url}/__admin/guard/{generation}").status_code == 204


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[CloudflareTarget]:
    if not NODE.exists() or not (VENDORED / "httpx").exists():
        pytest.skip("the Pyodide host is not installed (bash scripts/bootstrap.sh)")
    wallet = LocalWallet.create(workdir / "wallet", mint_url)
    folder = DataDir(wallet.path)
    cfg = folder.config()
    env = {
        **os.environ,
        "NWC_ROOT_SECRET": folder.secrets().root_secret.hex(),
        "NWC_WATCHER_PUBKEY": cfg.watcher_pubkey,
        "NWC_WALLET_ID": cfg.wallet_id,
    }
    args = [str(NODE), "--experimental-wasm-jspi", "pyodide_host.mjs", "serve", "--port", "0"]
    args += ["--persist", str(workdir / "miniflare"), "--admin"]
    log = (workdir / "host.log").open("wb")
    host = subprocess.Popen(args, cwd=HOST_DIR, env=env, stdout=subprocess.PIPE, stderr=log)
    try:
        assert host.stdout is not None
        line = host.stdout.readline()
        assert line, (workdir / "host.log").read_text()[-2000:]
        target = CloudflareTarget(wallet, f"http://127.0.0.1:{json.loads(line)['listening']}")
        target._push(first=True)
        try:
            yield target
        finally:
            target.http.close()
    finally:
        host.terminate()
        try:
            host.wait(timeout=20)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait()
        log.close()
