"""Exactly-once payments through the pipeline when storage fails or races, on the real mint.

The store here is the real local folder store, wrapped to fail one chosen write, either
before it lands or after it landed (the function dies before it can answer). The watcher
then re-delivers the same event, as it does after a 5xx.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from signer_core.pipeline import WebhookRequest, WebhookResponse, handle_webhook
from signer_core.protocol.webhook import sign_delivery
from tests import faults
from tests.faults import FlakyStore
from tests.nwc import App, LocalWallet

pytestmark = pytest.mark.mint


def deliver_with(wallet: LocalWallet, store, event) -> WebhookResponse:
    import json
    import time

    fn = wallet.function()
    body = json.dumps({"type": "request", "event": event}).encode()
    headers = sign_delivery(body, wallet.watcher_secret, int(time.time()))
    return handle_webhook(
        WebhookRequest(headers, body),
        store=store,
        guard=fn.guard,
        secrets=fn.secrets,
        config=fn.config,
    )


@pytest.fixture
def funded(tmp_path: Path, mint_url: str) -> tuple[LocalWallet, App, LocalWallet, App]:
    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    app = wallet.add_app(name="payer")
    wallet.fund(app, 300)
    payee = LocalWallet.create(tmp_path / "payee", mint_url)
    return wallet, app, payee, payee.add_app(name="payee")


def balance(wallet: LocalWallet, app: App) -> int:
    return int(wallet.call(app, "get_balance")["result"]["balance"])


def outgoing(wallet: LocalWallet, app: App) -> list[dict]:
    out = wallet.call(app, "list_transactions", {"type": "outgoing", "unpaid": True})
    return list(out["result"]["transactions"])


@pytest.mark.parametrize(
    "fail_on, when",
    [
        (1, "before"),  # the claim never lands: nothing may be paid yet
        (1, "after"),  # the claim landed, the function died before sending
        (2, "before"),  # paid, but the done record never landed
        (2, "after"),  # paid and recorded, but the reply was lost
    ],
)
def test_a_storage_outage_never_pays_twice(funded, fail_on: int, when: str) -> None:
    wallet, app, payee, payee_app = funded
    invoice = payee.invoice(payee_app, 40)
    event = app.request("pay_invoice", {"invoice": invoice})
    flaky = FlakyStore(wallet.function().store, fail_on, when)
    first = deliver_with(wallet, flaky, event)
    assert first.status == 503, first.message
    assert first.retry_after

    again = wallet.deliver(event, attempt=2)  # the watcher retries after the 5xx
    assert again.status == 200, again.message
    paid = app.read(again.events[0])
    assert paid["error"] is None, paid
    fees = paid["result"]["fees_paid"]
    assert balance(wallet, app) == 300_000 - 40_000 - fees
    assert [t["amount"] for t in outgoing(wallet, app)] == [40_000]

    third = wallet.deliver(event, attempt=3)
    assert app.read(third.events[0]) == paid
    assert balance(wallet, app) == 300_000 - 40_000 - fees
    # the payee got it exactly once
    woke = payee.wake()
    assert woke.status == 200
    assert payee.call(payee_app, "get_balance")["result"]["balance"] == 40_000


def test_a_concurrent_writer_makes_the_payment_retry_not_repeat(funded) -> None:
    wallet, app, payee, payee_app = funded
    invoice = payee.invoice(payee_app, 25)
    other = wallet.add_app(name="other")

    def competing_write() -> None:  # another request lands between our read and our claim
        assert wallet.call(other, "get_balance")["error"] is None

    racy = FlakyStore(wallet.function().store, 1, "hook", hook=competing_write)
    event = app.request("pay_invoice", {"invoice": invoice})
    response = deliver_with(wallet, racy, event)
    assert response.status == 200, response.message
    paid = app.read(response.events[0])
    assert paid["error"] is None, paid
    assert [t["amount"] for t in outgoing(wallet, app)] == [25_000]
    assert balance(wallet, app) == 300_000 - 25_000 - paid["result"]["fees_paid"]


def test_parallel_duplicate_deliveries_pay_once(funded) -> None:
    wallet, app, payee, payee_app = funded
    invoice = payee.invoice(payee_app, 30)
    event = app.request("pay_invoice", {"invoice": invoice})
    results: list[WebhookResponse] = []

    def deliver() -> None:
        results.append(wallet.deliver(event))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status == 200]
    assert ok, [(r.status, r.message) for r in results]
    assert all(r.status in (200, 409) for r in results)
    replies = {app.read(r.events[0])["result"]["preimage"] for r in ok}
    assert len(replies) == 1
    assert [t["amount"] for t in outgoing(wallet, app)] == [30_000]


@pytest.fixture
def lossy_network(monkeypatch):
    import signer_core.wallets

    faults.LoseMeltAnswer.armed = True
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", "tests.faults:lossy_cashu")


def test_a_lost_mint_answer_is_reconciled_on_redelivery(funded, lossy_network) -> None:
    wallet, app, payee, payee_app = funded
    event = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 35)})
    first = wallet.deliver(event)
    assert first.status == 409 and first.retry_after, first.message  # in flight: retry soon
    assert first.events == []

    again = wallet.deliver(event, attempt=2)
    assert again.status == 200, again.message
    paid = app.read(again.events[0])
    assert paid["error"] is None, paid
    assert [t["amount"] for t in outgoing(wallet, app)] == [35_000]
    assert balance(wallet, app) == 300_000 - 35_000 - paid["result"]["fees_paid"]


def test_a_wake_up_finishes_a_payment_in_flight_and_answers_the_app(funded, lossy_network) -> None:
    wallet, app, payee, payee_app = funded
    event = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 15)})
    first = wallet.deliver(event)
    assert first.status == 409, app.read(first.events[0]) if first.events else first.message
    woke = wallet.wake()  # the watcher gave up re-delivering; the scheduled wake-up comes
    assert woke.status == 200, woke.message
    late = [e for e in woke.events if e["kind"] == 23195]
    assert len(late) == 1
    assert late[0]["tags"][:2] == [["p", app.pubkey], ["e", event["id"]]]
    paid = app.read(late[0])
    assert paid["result_type"] == "pay_invoice" and paid["error"] is None, paid
    assert any(e["kind"] == 13194 for e in woke.events)  # info events for re-publishing
    # a later re-delivery gets the same stored answer and pays nothing more
    assert app.read(wallet.deliver(event).events[0]) == paid
    assert [t["amount"] for t in outgoing(wallet, app)] == [15_000]
