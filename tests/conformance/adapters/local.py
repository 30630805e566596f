"""`functions/local`: the wallet folder behind the local HTTP server, over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from functions.local.server import make_server
from signer_core.protocol.webhook import WebhookResponse, parse_response
from signer_core.stores.local import LocalFolderStore
from tests.nwc import App, LocalWallet


class LocalTarget:
    store_class = LocalFolderStore

    def __init__(self, wallet: LocalWallet, url: str) -> None:
        self.wallet = wallet
        self.watcher_secret = wallet.watcher_secret
        self.url = url
        self.http = httpx.Client(timeout=30)

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        res = self.http.post(self.url, content=body, headers=headers)
        return parse_response(res.status_code, res.headers, res.content)

    def add_app(self, name: str) -> App:
        return self.wallet.add_app(name=name)

    def blob(self) -> bytes:
        return (self.wallet.path / "state" / "wallet.sealed").read_bytes()


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[LocalTarget]:
    wallet = LocalWallet.create(workdir / "wallet", mint_url)
    server = make_server(wallet.path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    target = LocalTarget(wallet, f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        yield target
    finally:
        target.http.close()
        server.shutdown()
        server.server_close()
