"""The Worker in one Pyodide isolate under concurrent deliveries, as a Worker isolate gets
them: the watcher posts a request and a wake-up at the same moment, and a fresh isolate
must not crash importing the core for one while the other is suspended in `run_sync`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from signer_core.protocol.webhook import (
    WebhookResponse,
    request_delivery,
    signed_delivery,
    wake_delivery,
)
from tests.conformance.adapters.cloudflare import CloudflareTarget, open_target

pytestmark = [pytest.mark.mint, pytest.mark.timeout(240)]


def _send(target: CloudflareTarget, delivery: object) -> WebhookResponse:
    headers, body = signed_delivery(delivery, target.watcher_secret, int(time.time()))  # type: ignore[arg-type]
    return target.post(headers, body)


def test_a_fresh_isolate_answers_concurrent_deliveries(tmp_path: Path, mint_url: str) -> None:
    with open_target(tmp_path, mint_url) as target:
        app = target.add_app("main")
        deliveries = [wake_delivery(), wake_delivery()]
        calls = [("get_info", {}), ("get_balance", {}), ("make_invoice", {"amount": 1000}),
                 ("list_transactions", {})]  # fmt: skip
        for method, params in calls:
            deliveries.append(request_delivery(app.request(method, params), ["ws://127.0.0.1:1"]))
        with ThreadPoolExecutor(len(deliveries)) as pool:
            answers = list(pool.map(lambda d: _send(target, d), deliveries))
        assert [a.status for a in answers] == [200] * len(deliveries), [a.message for a in answers]
        for answer in answers[2:]:
            (reply,) = [e for e in answer.events if e["kind"] == 23195]
            assert app.read(reply)["error"] is None, app.read(reply)
        # the isolate is still alive and the state it wrote is readable
        again = _send(
            target, request_delivery(app.request("get_balance", {}), ["ws://127.0.0.1:1"])
        )
        assert again.status == 200
        assert target.blob()
