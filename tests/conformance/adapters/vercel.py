"""`functions/vercel/api/webhook.py`: the deployed project's layout served the way Vercel's
Python runtime serves a `handler` class, in its own interpreter, over the loopback fake of
the Blob API (state and rollback guard as two blobs) — the host `nwc-signer dev --runtime
vercel` runs (nwc_signer/dev/vercel.py).

The wallet is made on CPython in a local folder and its sealed blob put into the fake store
with the store's own compare-and-swap; `add_app` pulls, adds the connection and pushes back.
Store faults are injected in the fake, on the state blob, in the Blob API's own failure
shapes (412 precondition_failed, 503 service_unavailable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from nwc_signer.dev.vercel import VercelHost
from signer_core.protocol.webhook import WebhookResponse, parse_response
from signer_core.stores.vercel_blob import VercelBlobStore
from tests.nwc import App, LocalWallet, remember_secret


class VercelTarget:
    store_class: type[Any] = VercelBlobStore

    def __init__(self, wallet: LocalWallet, host: VercelHost, http: httpx.Client) -> None:
        self.wallet = wallet
        self.watcher_secret = wallet.watcher_secret
        self.host = host
        self.http = http
        self.remote, _ = host.stores()
        self.mirror = host.mirror()

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        res = self.http.post(self.host.url + "/api/webhook", content=body, headers=headers)
        return parse_response(res.status_code, res.headers, res.content)

    def add_app(self, name: str) -> App:
        self.mirror.pull()
        app = self.wallet.add_app(name=name)
        self.mirror.push()
        return app

    @contextmanager
    def store_fault(self, kind: str) -> Iterator[Callable[[], int]]:
        """The Blob API fails on the state blob as the service does (the fake's faults)."""
        with self.host.fake.fault(kind, self.host.state_pathname) as count:
            yield count

    def blob(self) -> bytes:
        found = self.remote.read()
        assert found is not None
        return bytes(found[0])


@contextmanager
def open_target(workdir: Path, mint_url: str) -> Iterator[VercelTarget]:
    wallet = LocalWallet.create(workdir / "wallet", mint_url)
    with ExitStack() as stack:
        host = stack.enter_context(VercelHost(wallet.path, workdir / "vercel"))
        remember_secret(host.fake.token)
        http = stack.enter_context(httpx.Client(timeout=120))
        target = VercelTarget(wallet, host, http)
        target.mirror.push()
        yield target
