"""The runtimes every conformance test runs against, and a small driver over a Target."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from signer_core.stores.base import StoreUnavailable, VersionConflict
from tests.conformance.target import Target
from tests.nwc import App

# runtime name -> adapter module under tests/conformance/adapters/
RUNTIMES = {
    "local": "local",
    "lambda": "aws_lambda",
    "cloudflare": "cloudflare",
    "deno": "deno",
    "vercel": "vercel",
}


FAULTS = ("conflict_once", "conflict_always", "read_down", "write_down")


@contextmanager
def store_fault(
    driver: Driver, monkeypatch: pytest.MonkeyPatch, kind: str
) -> Iterator[Callable[[], int]]:
    """Make the runtime's state store fail one way while the block runs; yields a counter of
    the faults injected. A target whose store lives in another process (cloudflare: R2 in
    Node) injects them there (``target.store_fault``), at the binding, with the binding's own
    failure shapes; the others are monkeypatched here, on ``store_class``."""
    assert kind in FAULTS, kind
    remote = getattr(driver.target, "store_fault", None)
    if remote is not None:
        with remote(kind) as count:
            yield count
        return
    cls = driver.target.store_class
    injected: list[int] = []
    original_write = cls.write

    def write(self: Any, blob: bytes, expected: str | None) -> str:
        if kind == "conflict_always" or (kind == "conflict_once" and not injected):
            injected.append(1)
            raise VersionConflict("injected: another writer won")
        return original_write(self, blob, expected)

    def down(self: Any, *args: Any) -> Any:
        injected.append(1)
        raise StoreUnavailable("injected outage")

    if kind == "read_down":
        monkeypatch.setattr(cls, "read", down)
    elif kind == "write_down":
        monkeypatch.setattr(cls, "write", down)
    else:
        monkeypatch.setattr(cls, "write", write)
    try:
        yield lambda: len(injected)
    finally:
        monkeypatch.undo()


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
