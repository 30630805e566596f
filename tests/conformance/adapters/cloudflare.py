"""`functions/cloudflare/worker.py`: the Worker entry in Pyodide on Node, over miniflare's R2
(state) and D1 (rollback guard), served by `pyodide_host.mjs serve` over real HTTP — the
host `nwc-signer dev --runtime cloudflare` runs (nwc_signer/dev/cloudflare.py).

The wallet is made on CPython in a local folder (as `wallet create` does) and its sealed blob
is put into the R2 bucket through the host's test-only `/__admin/` routes; `add_app` pulls
the newest blob into the folder, adds the connection there, and pushes it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from nwc_signer.dev.cloudflare import PyodideWorkerHost, host_missing
from nwc_signer.dev.mirror import FolderMirror, HostAdminGuard, HostAdminStore
from signer_core.protocol.webhook import WebhookResponse, parse_response
from signer_core.stores.r2 import R2Store
from tests.nwc import App, LocalWallet


class CloudflareTarget:
    # the store lives in another process (Node): faults are injected at its R2 binding there
    store_class: type[Any] = R2Store

    def __init__(self, wallet: LocalWallet, url: str, http: httpx.Client) -> None:
        self.wallet = wallet
        self.watcher_secret = wallet.watcher_secret
        self.url = url
        self.http = http
        self.remote = HostAdminStore(url, http)
        self.mirror = FolderMirror(wallet.path, self.remote, HostAdminGuard(url, http))
        self.last_cpu_ms = 0.0
        self.last_wall_ms = 0.0

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        res = self.http.post(self.url + "/", content=body, headers=headers)
        self.last_cpu_ms = float(res.headers.get("x-host-cpu-ms", "0"))
        self.last_wall_ms = float(res.headers.get("x-host-wall-ms", "0"))
        return parse_response(res.status_code, res.headers, res.content)

    def add_app(self, name: str) -> App:
        self.mirror.pull()
        app = self.wallet.add_app(name=name)
        self.mirror.push()
        return app

    @contextmanager
    def store_fault(self, kind: str) -> Iterator[Callable[[], int]]:
        """The Worker's R2 binding fails as R2 does (pyodide_host.mjs faultyBucket)."""
        url = self.url + "/__admin/faults"

        def count() -> int:
            return int(self.http.get(url).json()["injected"])

        self.http.post(url, json={"kind": kind}).raise_for_status()
        try:
            yield count
        finally:
            self.http.post(url, json={"kind": None}).raise_for_status()

    def blob(self) -> bytes:
        found = self.remote.read()
        assert found is not None
        return found[0]


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[CloudflareTarget]:
    missing = host_missing()
    if missing:
        pytest.skip(f"the Pyodide host is not installed: {missing}")
    wallet = LocalWallet.create(workdir / "wallet", mint_url)
    with ExitStack() as stack:
        host = stack.enter_context(PyodideWorkerHost(wallet.path, workdir / "miniflare"))
        http = stack.enter_context(httpx.Client(timeout=120))
        target = CloudflareTarget(wallet, host.url, http)
        target.mirror.push()
        yield target
