"""The runtimes every conformance test runs against, and a small driver over a Target."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from signer_core.protocol.events import Event
from signer_core.protocol.webhook import (
    Delivery,
    WebhookResponse,
    request_delivery,
    signed_delivery,
    wake_delivery,
)
from tests.conformance.target import Target
from tests.nwc import App

# runtime name -> adapter module under tests/conformance/adapters/
RUNTIMES = {
    "local": "local",
    "lambda": "aws_lambda",
    "cloudflare": "cloudflare",
}


def store_faults(driver: Driver) -> None:
    """Skip a case that injects store faults by monkeypatching ``store_class`` in this
    process when the runtime's store lives in another process (cloudflare: Node)."""
    if not getattr(driver.target, "store_faults_in_process", True):
        pytest.skip("store faults are injected in-process; this runtime's store runs in Node")


@dataclass
class Driver:
    """Delivers what the watcher would deliver, and reads answers as an app would."""

    target: Target
    app: App  # a connection with every method and notifications
    funded_sats: int

    def send(self, delivery: Delivery, *, now: int | None = None) -> WebhookResponse:
        signed_at = int(time.time()) if now is None else now
        headers, body = signed_delivery(delivery, self.target.watcher_secret, signed_at)
        return self.target.post(headers, body)

    def deliver(self, event: Event) -> WebhookResponse:
        return self.send(request_delivery(event, ["ws://127.0.0.1:1"]))

    def wake(self) -> WebhookResponse:
        return self.send(wake_delivery())

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.deliver(self.app.request(method, params))
        assert response.status == 200, (method, response.status, response.message)
        (reply,) = [e for e in response.events if e["kind"] == 23195]
        return self.app.read(reply)

    def balance(self) -> int:
        return int(self.call("get_balance")["result"]["balance"])


@pytest.fixture(scope="module", params=list(RUNTIMES))
def driver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mint_url: str
) -> Iterator[Driver]:
    """One wallet per runtime and module, funded with 300 sat from the test mint."""
    adapter = import_module(f"tests.conformance.adapters.{RUNTIMES[request.param]}")
    workdir: Path = tmp_path_factory.mktemp(f"conformance-{request.param}")
    with adapter.open_target(workdir, mint_url) as target:
        driver = Driver(target, target.add_app("main"), 0)
        made = driver.call("make_invoice", {"amount": 300_000, "description": "fund"})
        assert made["error"] is None, made
        for _ in range(200):  # the fake Lightning backend pays it; a wake-up mints it
            assert driver.wake().status == 200
            if driver.balance() == 300_000:
                break
            time.sleep(0.05)
        driver.funded_sats = driver.balance() // 1000
        assert driver.funded_sats == 300
        yield driver
