"""Spark's NWC extensions against the SDK double: hold invoices (NWC-03), sign_message and
the Breez webhook registration, with the state sealed to JSON between calls."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import pytest
from coincurve import PublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.extensions import (
    HOLD_INVOICE_ACCEPTED,
    HoldInvoices,
    MessageSigner,
    take_notifications,
)
from signer_core.wallets.spark import hook
from tests.spark_double import FakeSpark
from tests.test_spark_wallet import Spark


@pytest.fixture
def fake() -> FakeSpark:
    return FakeSpark()


@pytest.fixture
def spark(fake: FakeSpark) -> Spark:
    return Spark(fake)


def secret_pair() -> tuple[str, str]:
    preimage = os.urandom(32)
    return preimage.hex(), hashlib.sha256(preimage).hexdigest()


def make_hold(spark: Spark, payment_hash: str, sats: int = 2_000, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "amount_msat": sats * 1000, "payment_hash": payment_hash, "description": "escrow",
        "description_hash": None, "expiry": None, "min_cltv_expiry_delta": None,
    }  # fmt: skip
    params.update(extra)
    return spark.call("make_hold_invoice", **params)


def sync_notes(spark: Spark, now: int | None = None) -> tuple[Any, list[Any]]:
    """One sync in one cold request: (SyncResult, the extra notifications it found)."""
    wallet = spark.open(now=now)
    try:
        result = wallet.sync()
        return result, take_notifications(wallet)
    finally:
        spark.state = json.dumps(wallet.data)
        wallet.close()


def test_spark_serves_holds_and_signing_but_not_cancel(spark: Spark) -> None:
    wallet = spark.open()
    try:
        assert isinstance(wallet, HoldInvoices) and isinstance(wallet, MessageSigner)
        assert {"make_hold_invoice", "settle_hold_invoice", "sign_message"} <= wallet.methods
        assert "cancel_hold_invoice" not in wallet.methods
        assert HOLD_INVOICE_ACCEPTED in wallet.notifications
        with pytest.raises(NwcError) as refused:
            wallet.cancel_hold_invoice(payment_hash="00" * 32)
        assert refused.value.code == ErrorCode.NOT_IMPLEMENTED
        assert "expires" in refused.value.message
    finally:
        wallet.close()


def test_hold_invoice_accepted_once_then_settled_exactly_once(
    spark: Spark, fake: FakeSpark
) -> None:
    preimage, payment_hash = secret_pair()
    made = make_hold(spark, payment_hash)
    assert made.payment_hash == payment_hash and made.state == "pending"
    assert spark.call("needs_sync")  # an open hold is watched
    fake.pay_in(made.invoice)

    result, notes = sync_notes(spark)
    assert result.received == []  # held, not received: no payment_received yet
    assert [kind for kind, _ in notes] == [HOLD_INVOICE_ACCEPTED]
    body = notes[0][1]
    assert body["state"] == "accepted" and body["payment_hash"] == payment_hash
    assert body["amount"] == 2_000_000 and body["invoice"] == made.invoice
    assert body["settle_deadline_at"] > body["created_at"]
    assert spark.call("lookup_invoice", payment_hash=payment_hash).state == "accepted"
    assert spark.call("get_balance_msat") == 0
    assert sync_notes(spark)[1] == []  # noticed once

    settled = spark.call("settle_hold_invoice", preimage=preimage)
    assert settled is not None and settled.state == "settled" and settled.preimage == preimage
    assert fake.claims == 1 and spark.call("get_balance_msat") == 2_000_000
    assert spark.call("settle_hold_invoice", preimage=preimage) is None  # nothing claimed
    assert fake.claims == 1
    result, notes = sync_notes(spark)
    assert result.received == [] and notes == []  # the settle reported it already


def test_settle_refusals(spark: Spark, fake: FakeSpark) -> None:
    preimage, payment_hash = secret_pair()
    made = make_hold(spark, payment_hash)
    with pytest.raises(NwcError) as unknown:
        spark.call("settle_hold_invoice", preimage=secret_pair()[0])
    assert unknown.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(NwcError) as early:
        spark.call("settle_hold_invoice", preimage=preimage)
    assert early.value.code == ErrorCode.OTHER and "not accepted" in early.value.message
    assert fake.claims == 0
    fake.pay_in(made.invoice)  # the payer comes after all; the hold is still settleable
    assert spark.call("settle_hold_invoice", preimage=preimage) is not None


def test_a_lost_write_after_the_claim_does_not_claim_again(spark: Spark, fake: FakeSpark) -> None:
    preimage, payment_hash = secret_pair()
    fake.pay_in(make_hold(spark, payment_hash).invoice)
    sync_notes(spark)
    before = spark.state
    assert spark.call("settle_hold_invoice", preimage=preimage) is not None
    spark.state = before  # the state written after the claim was lost (crash)
    again = spark.call("settle_hold_invoice", preimage=preimage)
    assert again is not None and again.state == "settled"  # found claimed, reported once
    assert fake.claims == 1


def test_an_unsettled_hold_expires_and_cannot_be_settled(spark: Spark, fake: FakeSpark) -> None:
    preimage, payment_hash = secret_pair()
    fake.pay_in(make_hold(spark, payment_hash).invoice)
    _, notes = sync_notes(spark)
    deadline = notes[0][1]["settle_deadline_at"]
    fake.return_htlc(payment_hash)
    sync_notes(spark, now=deadline + 61)
    assert spark.call("lookup_invoice", payment_hash=payment_hash).state == "expired"
    with pytest.raises(NwcError) as late:
        spark.call("settle_hold_invoice", preimage=preimage)
    assert late.value.code == ErrorCode.OTHER and "expired" in late.value.message
    assert fake.claims == 0


def test_make_hold_invoice_refusals(spark: Spark) -> None:
    _, payment_hash = secret_pair()
    cases: list[tuple[dict[str, Any], ErrorCode]] = [
        ({"description_hash": "ab" * 32}, ErrorCode.NOT_IMPLEMENTED),
        ({"sats": 0}, ErrorCode.OTHER),
        ({"payment_hash": "zz" * 32}, ErrorCode.OTHER),
    ]
    for extra, code in cases:
        args = {"payment_hash": payment_hash, **extra}
        with pytest.raises(NwcError) as refused:
            make_hold(spark, **args)
        assert refused.value.code == code, extra
    make_hold(spark, payment_hash)
    with pytest.raises(NwcError) as twice:
        make_hold(spark, payment_hash)
    assert "exists already" in twice.value.message


def test_sign_message_verifies_against_the_identity_key(spark: Spark) -> None:
    signature = spark.call("sign_message", "hello nostr")
    pubkey = spark.call("get_info")["spark_identity_pubkey"]
    der = cdata_to_der(deserialize_compact(bytes.fromhex(signature)))
    digest = hashlib.sha256(b"hello nostr").digest()
    assert PublicKey(bytes.fromhex(pubkey)).verify(der, digest, hasher=None)
    assert not PublicKey(bytes.fromhex(pubkey)).verify(der, b"\x00" * 32, hasher=None)


def test_webhook_registered_once_and_moved_when_the_url_changes(fake: FakeSpark) -> None:
    url = "https://watcher.example/v1/hooks/spark/" + "ab" * 32 + "/" + "cd" * 64
    spark = Spark(fake, **{hook.CONFIG_KEY: url})
    assert spark.call("needs_sync")
    spark.call("sync")
    (first,) = fake.webhooks.values()
    assert first.url == url and len(first.secret) == 64
    assert {str(e) for e in first.event_types} == {
        "WebhookEventType.LIGHTNING_RECEIVE_FINISHED()",
        "WebhookEventType.LIGHTNING_SEND_FINISHED()",
    }
    spark.call("sync")
    assert len(fake.webhooks) == 1  # remembered in the state: not registered again
    before = spark.state
    spark.state = json.dumps({**json.loads(before), "webhook": None})  # a lost state write
    spark.call("sync")
    assert len(fake.webhooks) == 1  # the provider's registration is adopted, not repeated
    spark.config[hook.CONFIG_KEY] = url.replace("watcher.example", "other.example")
    spark.call("sync")
    (moved,) = fake.webhooks.values()  # the old one was unregistered
    assert moved.url.startswith("https://other.example/") and moved.secret == first.secret


def test_a_refused_webhook_registration_is_not_retried_by_every_request(fake: FakeSpark) -> None:
    spark = Spark(fake, **{hook.CONFIG_KEY: "https://watcher.example/v1/hooks/spark/x/y"})
    fake.unreachable = True  # registration fails; the sync itself goes on
    spark.call("sync")
    fake.unreachable = False
    assert fake.webhooks == {} and not spark.call("needs_sync")
    data = json.loads(spark.state)
    data["webhook"]["failed_at"] -= hook.RETRY_S
    spark.state = json.dumps(copy.deepcopy(data))
    spark.call("sync")
    assert len(fake.webhooks) == 1
