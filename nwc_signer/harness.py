"""Drive a local wallet folder the way the relay-watcher does, without a relay.

Used by the tests, the benchmarks and local tooling: create a wallet through the real CLI,
add connections, deliver watcher-signed webhooks to the local function, fund it from the
(test) mint through make_invoice + a wake-up.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.local import LocalFunction
from nwc_signer.nwc_app import NwcApp
from signer_core.protocol.events import Event
from signer_core.protocol.webhook import (
    Delivery,
    WebhookResponse,
    request_delivery,
    sign_delivery,
    signed_delivery,
    wake_delivery,
)


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run `nwc-signer ARGV` in-process; (exit code, stdout, stderr)."""
    from nwc_signer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@dataclass
class LocalWallet:
    path: Path
    watcher_secret: bytes = field(repr=False)
    mnemonic: str = field(default="", repr=False)

    @classmethod
    def create(cls, path: Path, mint_url: str) -> LocalWallet:
        code, out, err = run_cli(
            "wallet", "create", "--data-dir", str(path), "--backend", "cashu",
            "--mint-url", mint_url, "--relay", "ws://127.0.0.1:1",
        )  # fmt: skip
        if code != 0:
            raise RuntimeError(f"wallet create failed: {err.strip()}")
        phrase = out.split("Recovery phrase")[1].splitlines()[1].strip()
        watcher = bytes.fromhex((path / "secrets" / "watcher.key").read_text().strip())
        return cls(path, watcher, phrase)

    def connection_uri(self, *extra: str, name: str = "app") -> str:
        code, out, err = run_cli(
            "connection", "add", "--data-dir", str(self.path), "--name", name, "--no-qr", *extra
        )
        if code != 0:
            raise RuntimeError(f"connection add failed: {err.strip()}")
        return out.strip().splitlines()[-1]

    def add_app(self, *extra: str, name: str = "app", encryption: str | None = "nip44_v2") -> Any:
        return NwcApp.from_uri(self.connection_uri(*extra, name=name), encryption)

    def function(self) -> LocalFunction:
        return LocalFunction(self.path)

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        """One signed delivery to this wallet's function, exactly as the watcher sends it."""
        return self.function().handle(headers, body)

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
