"""Spark's NWC extensions through the whole pipeline (CLI wallet -> signed deliveries ->
replies and notifications), the SDK double in place of ``connect``; and Cashu's answers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import breez_sdk_spark as b
import pytest

from signer_core.methods import EXTENSION_METHOD_NAMES
from signer_core.protocol.events import Event
from tests.nwc import App, LocalWallet
from tests.spark_double import FakeSpark, make_bolt11
from tests.test_spark_hooks import spark_wallet


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSpark:
    spark = FakeSpark()
    monkeypatch.setattr(b, "connect", spark.connect)
    return spark


@pytest.fixture
def local(tmp_path: Path, fake: FakeSpark) -> LocalWallet:
    return spark_wallet(tmp_path / "w", "ws://127.0.0.1:1")


def notes(app: App, events: list[Event], kind: str | None = None) -> list[dict[str, Any]]:
    found = [app.read(e) for e in events if e["kind"] == 23197]
    return [n for n in found if kind is None or n["notification_type"] == kind]


def reply(app: App, events: list[Event]) -> dict[str, Any]:
    (response,) = [e for e in events if e["kind"] == 23195]
    return app.read(response)


def fund(local: LocalWallet, app: App, fake: FakeSpark, sats: int) -> None:
    made = local.call(app, "make_invoice", {"amount": sats * 1000})["result"]
    fake.pay_in(made["invoice"])
    local.wake()


def test_get_info_lists_what_spark_serves(local: LocalWallet) -> None:
    app = local.add_app()
    info = local.call(app, "get_info")["result"]
    assert {"make_hold_invoice", "settle_hold_invoice", "sign_message"} <= set(info["methods"])
    assert "cancel_hold_invoice" not in info["methods"]
    assert "hold_invoice_accepted" in info["notifications"]
    refused = local.call(app, "cancel_hold_invoice", {"payment_hash": "00" * 32})["error"]
    assert refused["code"] == "NOT_IMPLEMENTED"


def test_hold_invoice_settled_once_through_the_pipeline(
    local: LocalWallet, fake: FakeSpark
) -> None:
    app = local.add_app()
    preimage = os.urandom(32)
    payment_hash = hashlib.sha256(preimage).hexdigest()
    made = local.call(app, "make_hold_invoice", {"amount": 5_000, "payment_hash": payment_hash})
    assert made["result"]["payment_hash"] == payment_hash and made["result"]["invoice"]
    fake.pay_in(made["result"]["invoice"])
    local.wake()
    looked = local.call(app, "lookup_invoice", {"payment_hash": payment_hash})["result"]
    assert looked["state"] == "accepted"

    event = app.request("settle_hold_invoice", {"preimage": preimage.hex()})
    first = local.deliver(event)
    assert reply(app, first.events) == {"result_type": "settle_hold_invoice", "error": None,
                                        "result": {}}  # fmt: skip
    (received,) = notes(app, first.events, "payment_received")
    assert received["notification"]["payment_hash"] == payment_hash
    again = local.deliver(event, attempt=2)  # a re-delivery: the stored reply, no claim
    assert [e["id"] for e in again.events if e["kind"] == 23195] == [
        e["id"] for e in first.events if e["kind"] == 23195
    ]
    other = local.deliver(app.request("settle_hold_invoice", {"preimage": preimage.hex()}))
    assert reply(app, other.events)["result"] == {} and notes(app, other.events) == []
    assert fake.claims == 1
    assert local.call(app, "get_balance")["result"]["balance"] == 5_000
    woke = local.wake()
    assert notes(app, woke.events) == []  # not reported again by a sync


def test_a_wake_up_tells_the_app_that_a_hold_invoice_was_accepted(
    local: LocalWallet, fake: FakeSpark
) -> None:
    app = local.add_app()
    payment_hash = hashlib.sha256(os.urandom(32)).hexdigest()
    made = local.call(app, "make_hold_invoice", {"amount": 3_000, "payment_hash": payment_hash})
    fake.pay_in(made["result"]["invoice"])
    woke = local.wake()
    (accepted,) = notes(app, woke.events, "hold_invoice_accepted")
    body = accepted["notification"]
    assert body["payment_hash"] == payment_hash and body["state"] == "accepted"
    assert body["settle_deadline_at"] > body["created_at"]
    assert notes(app, local.wake().events) == []  # once


def test_sign_message_through_the_pipeline(local: LocalWallet) -> None:
    app = local.add_app()
    out = local.call(app, "sign_message", {"message": "I own this wallet"})
    assert out["error"] is None and out["result"]["message"] == "I own this wallet"
    assert len(out["result"]["signature"]) == 128
    refused = local.call(app, "sign_message", {"message": ""})["error"]
    assert refused["code"] == "OTHER"


def test_a_payment_finished_by_a_wake_up_sends_payment_sent(
    local: LocalWallet, fake: FakeSpark
) -> None:
    app = local.add_app()
    fund(local, app, fake, 50)
    bolt11, _ = make_bolt11(10_000)
    fake.send_status = "PENDING"  # in flight when the request is answered
    first = local.deliver(app.request("pay_invoice", {"invoice": bolt11}))
    assert first.status == 409 and notes(app, first.events) == []
    for record in fake.payments.values():
        if record["type"] == "SEND":  # the Lightning payment completes while we sleep
            record.update(status="COMPLETED", preimage="cd" * 32)
    woke = local.wake()
    (paid,) = notes(app, woke.events, "payment_sent")
    assert paid["notification"]["amount"] == 10_000 and paid["notification"]["state"] == "settled"
    assert reply(app, [e for e in woke.events if e["kind"] == 23195])["result"]["preimage"]
    assert notes(app, local.wake().events, "payment_sent") == []  # once


@pytest.mark.mint
def test_cashu_answers_not_implemented_for_spark_only_extensions(
    tmp_path: Path, mint_url: str
) -> None:
    wallet = LocalWallet.create(tmp_path / "c", mint_url)
    app = wallet.add_app()
    params = {
        "make_hold_invoice": {"amount": 1000, "payment_hash": "00" * 32},
        "settle_hold_invoice": {"preimage": "00" * 32},
        "cancel_hold_invoice": {"payment_hash": "00" * 32},
        "sign_message": {"message": "hi"},
    }
    for method, p in params.items():
        assert method in EXTENSION_METHOD_NAMES
        error = wallet.call(app, method, p)["error"]
        assert error["code"] == "NOT_IMPLEMENTED", method


def test_nwc321_pay_and_receive_on_spark(local: LocalWallet, fake: FakeSpark) -> None:
    app = local.add_app()
    fund(local, app, fake, 50)
    got = local.call(app, "receive", {"amount": 7_000, "description": "321"})["result"]
    assert got["bip321"].lower().startswith("bitcoin:?lightning=lnbcrt")
    bolt11, _ = make_bolt11(10_000)
    refused = local.call(app, "pay", {"payment": bolt11, "max_fee": 1_000})["error"]
    assert refused["code"] == "FEE_LIMIT_EXCEEDED" and fake.sends == 0  # the fee is 2 sat
    paid = local.call(app, "pay", {"payment": "lightning:" + bolt11, "max_fee": 2_000})
    assert paid["error"] is None and paid["result"]["preimage"] == "cd" * 32
    assert fake.sends == 1 and local.call(app, "get_balance")["result"]["balance"] == 38_000
