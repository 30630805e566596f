"""The Worker in one Pyodide isolate under concurrent deliveries, as a Worker isolate gets
them: the watcher posts a request and a wake-up at the same moment, and a fresh isolate
must not crash importing the core for one while the other is suspended in `run_sync`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nwc_signer.dev.cloudflare import PyodideWorkerHost
from signer_core.protocol.webhook import (
    WebhookResponse,
    request_delivery,
    signed_delivery,
    wake_delivery,
)
from tests.conformance.adapters.cloudflare import CloudflareTarget, open_target
from tests.nwc import LocalWallet

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


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"NWC_ROOT_SECRET": "", "NWC_WALLET_ID": ""}, "ROOT_SECRET, WALLET_ID not set"),
        ({"NWC_ROOT_SECRET": "zz" * 32}, "ROOT_SECRET must be 64 hex digits"),
        ({"NWC_WATCHER_PUBKEY": "0" * 64}, "WATCHER_PUBKEY must be the watcher's key"),
    ],
)
def test_a_worker_not_configured_answers_503_and_says_what_is_missing(
    tmp_path: Path, mint_url: str, settings: dict[str, str], named: str
) -> None:
    """A button deploy before `deploy cloudflare --existing-worker`: a clear 503, not a 500."""
    wallet = LocalWallet.create(tmp_path / "wallet", mint_url)
    app = wallet.add_app(name="main")
    host = PyodideWorkerHost(wallet.path, tmp_path / "mf", settings=settings)
    with host, httpx.Client(timeout=60) as http:
        assert http.get(host.url + "/health").status_code == 200
        delivery = request_delivery(app.request("get_balance", {}), ["ws://127.0.0.1:1"])
        headers, body = signed_delivery(delivery, wallet.watcher_secret, int(time.time()))
        res = http.post(host.url + "/", content=body, headers=headers)
    assert res.status_code == 503, res.text
    assert named in res.json()["message"]
    assert "zz" not in res.text
