"""Drive a wallet the way the relay-watcher does, without a relay.

Create a local wallet folder (create_local_wallet, as the CLI does), add connections,
deliver watcher-signed webhooks to its function, fund it from the (test) mint through
make_invoice + a wake-up. `WebhookDriver` holds the round trips; LocalWallet
(functions.local) and the AWS dev runtime's LambdaWallet (aws.py) only say how a delivery
reaches their function. `nwc-signer dev --fund` uses it; the tests reach it through
harness.py.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.local import LocalFunction
from nwc_signer.dev.nwc_app import NwcApp
from nwc_signer.wallet import add_connection_options, connection_from_args, create_local_wallet
from signer_core.protocol.events import Event
from signer_core.protocol.webhook import (
    Delivery,
    WebhookResponse,
    request_delivery,
    sign_delivery,
    signed_delivery,
    wake_delivery,
)


class WebhookDriver:
    """Signed deliveries and NWC round trips; a subclass says how a delivery is posted."""

    watcher_secret: bytes

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        raise NotImplementedError

    def deliver_body(self, body: bytes, *, now: int | None = None) -> WebhookResponse:
        """Sign raw body bytes (the tests' hand-made and malformed bodies) and deliver them."""
        return self.post(sign_delivery(body, self.watcher_secret, now or int(time.time())), body)

    def send(self, delivery: Delivery, *, now: int | None = None) -> WebhookResponse:
        headers, body = signed_delivery(delivery, self.watcher_secret, now or int(time.time()))
        return self.post(headers, body)

    def deliver(self, event: Event, *, attempt: int = 1) -> WebhookResponse:
        return self.send(request_delivery(event, ["ws://127.0.0.1:1"], attempt=attempt))

    def wake(self) -> WebhookResponse:
        return self.send(wake_delivery())

    def call(
        self, app: NwcApp, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Round trip one request; the decrypted 23195 reply."""
        event = app.request(method, params)
        response = self.deliver(event)
        if response.status != 200:
            raise RuntimeError(f"{method}: HTTP {response.status} {response.message}")
        replies = [e for e in response.events if e["kind"] == 23195]
        if len(replies) != 1 or replies[0]["tags"][:2] != [["p", app.pubkey], ["e", event["id"]]]:
            raise RuntimeError(f"{method}: unexpected reply events {response.events}")
        return app.read(replies[0])

    def invoice(self, app: NwcApp, sats: int) -> str:
        made = self.call(app, "make_invoice", {"amount": sats * 1000})
        if made["error"]:
            raise RuntimeError(f"make_invoice failed: {made['error']}")
        return str(made["result"]["invoice"])

    def fund(
        self, app: NwcApp, sats: int, *, invoices: int = 1, timeout: float = 20
    ) -> list[Event]:
        """Receive `sats` (split over `invoices`) from the test mint's fake Lightning backend.

        Returns the wake-up events (they carry the payment_received notifications)."""
        target = self.call(app, "get_balance")["result"]["balance"] + sats * 1000
        for i in range(invoices):
            self.invoice(app, sats // invoices + (sats % invoices if i == 0 else 0))
        events: list[Event] = []
        deadline = time.time() + timeout
        while self.call(app, "get_balance")["result"]["balance"] < target:
            if time.time() > deadline:
                raise RuntimeError("the mint never marked the invoices paid")
            woke = self.wake()
            if woke.status != 200:
                raise RuntimeError(f"wake: HTTP {woke.status} {woke.message}")
            events.extend(woke.events)
        return events


@dataclass
class LocalWallet(WebhookDriver):
    """A wallet folder served by functions.local, in this process."""

    path: Path
    watcher_secret: bytes = field(repr=False)
    mnemonic: str = field(default="", repr=False)

    @classmethod
    def create(cls, path: Path, mint_url: str) -> LocalWallet:
        made = create_local_wallet(path, backend="cashu", mint_url=mint_url,
                                   relays=["ws://127.0.0.1:1"])  # fmt: skip
        assert made.watcher_secret is not None  # no outside watcher named
        return cls(path, made.watcher_secret, made.mnemonic)

    def connection_uri(self, *extra: str, name: str = "app") -> str:
        """Add a connection; `extra` are `connection add` options (e.g. "--relay", URL)."""
        parser = argparse.ArgumentParser(prog="connection add", exit_on_error=False)
        add_connection_options(parser)
        return connection_from_args(self.path, name, parser.parse_args(list(extra))).uri

    def add_app(self, *extra: str, name: str = "app", encryption: str | None = "nip44_v2") -> Any:
        return NwcApp.from_uri(self.connection_uri(*extra, name=name), encryption)

    def function(self) -> LocalFunction:
        return LocalFunction(self.path)

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        """One signed delivery to this wallet's function, exactly as the watcher sends it."""
        return self.function().handle(headers, body)
