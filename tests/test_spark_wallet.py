"""SparkWallet's mapping and error handling against the SDK double (tests/spark_double.py),
with the state sealed to JSON between calls exactly as the pipeline does."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from mnemonic import Mnemonic

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import PreparedPayment, WalletEnv
from signer_core.wallets.spark.payments import idempotency_key
from signer_core.wallets.spark.wallet import SparkWallet
from tests.nwc import remember_secret
from tests.spark_double import IDENTITY_PUBKEY, FakeSpark, make_bolt11


class Spark:
    """A Spark wallet whose state goes through JSON between calls (one cold request each)."""

    def __init__(self, fake: FakeSpark, network: str = "regtest", **config: Any) -> None:
        self.fake = fake
        self.mnemonic = Mnemonic("english").generate(128)
        remember_secret(self.mnemonic)
        self.config = config
        data = SparkWallet.create_data(
            network, mnemonic=self.mnemonic, config=config, connect=fake.connect
        )
        self.state = json.dumps(data)

    def open(self, *, timeout: float = 10.0, now: int | None = None) -> SparkWallet:
        env = WalletEnv(
            seed=b"", now=now or int(time.time()), http_timeout=timeout,
            config=self.config, mnemonic=self.mnemonic,
        )  # fmt: skip
        return SparkWallet(json.loads(self.state), env, connect=self.fake.connect)

    def call(self, method: str, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
        wallet = self.open(timeout=timeout)
        try:
            return getattr(wallet, method)(*args, **kwargs)
        finally:
            self.state = json.dumps(wallet.data)
            wallet.close()

    def invoice(self, sats: int, description: str | None = "coffee") -> Any:
        return self.call(
            "make_invoice", amount_msat=sats * 1000, description=description,
            description_hash=None, expiry=None, metadata=None,
        )  # fmt: skip

    def fund(self, sats: int) -> Any:
        tx = self.invoice(sats)
        self.fake.pay_in(tx.invoice)
        return self.call("sync")

    def prepare(self, bolt11: str, request_id: str = "ab" * 32) -> PreparedPayment:
        prepared = self.call(
            "prepare_payment", invoice=bolt11, amount_msat=None, request_id=request_id
        )
        return PreparedPayment.from_dict(json.loads(json.dumps(prepared.to_dict())))


@pytest.fixture
def fake() -> FakeSpark:
    return FakeSpark()


@pytest.fixture
def spark(fake: FakeSpark) -> Spark:
    return Spark(fake)


def test_info_and_balance_are_offline_and_cached(spark: Spark, fake: FakeSpark) -> None:
    info = spark.call("get_info")
    assert info["network"] == "regtest" and info["spark_address"] == "sparkrt1fake"
    assert info["spark_identity_pubkey"] == IDENTITY_PUBKEY
    fake.unreachable = True
    assert spark.call("get_info")["spark_address"] == "sparkrt1fake"
    assert spark.call("get_balance_msat") == 0


def test_invoice_paid_is_notified_once_and_settles_lookup(spark: Spark, fake: FakeSpark) -> None:
    tx = spark.invoice(21)
    assert (tx.type, tx.state, tx.amount) == ("incoming", "pending", 21000)
    assert tx.description == "coffee"
    assert tx.invoice.startswith("lnbcrt") and tx.expires_at and tx.payment_hash
    pending = spark.call("lookup_invoice", payment_hash=tx.payment_hash)
    assert pending.state == "pending"
    wallet = spark.open()
    assert wallet.needs_sync()
    first = spark.call("sync")
    assert first.received == [] and first.wake_at is not None  # not paid yet: look again soon
    fake.pay_in(tx.invoice)
    result = spark.call("sync")
    assert [t.payment_hash for t in result.received] == [tx.payment_hash]
    got = result.received[0]
    assert (got.state, got.amount, got.preimage is not None) == ("settled", 21000, True)
    assert result.wake_at is None and spark.call("sync").received == []
    assert not spark.open().needs_sync()  # synced just now, no open invoice
    looked = spark.call("lookup_invoice", payment_hash=tx.payment_hash)
    assert looked.state == "settled" and looked.settled_at
    assert spark.call("get_balance_msat") == 21000


def test_make_invoice_refusals(spark: Spark) -> None:
    with pytest.raises(NwcError) as exc:
        spark.call(
            "make_invoice", amount_msat=1000, description=None, description_hash="00" * 32,
            expiry=None, metadata=None,
        )  # fmt: skip
    assert exc.value.code == ErrorCode.NOT_IMPLEMENTED
    with pytest.raises(NwcError) as exc:
        spark.call(
            "make_invoice", amount_msat=1500, description=None, description_hash=None,
            expiry=None, metadata=None,
        )  # fmt: skip
    assert exc.value.code == ErrorCode.OTHER and "whole-sat" in exc.value.message


def test_pay_settles_once_under_the_request_ids_key(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(1000)
    bolt11, _ = make_bolt11(300_000)
    prepared = spark.prepare(bolt11)
    assert prepared.reference == idempotency_key("ab" * 32)
    assert (prepared.amount_msat, prepared.fee_reserve_msat) == (300_000, 2000)
    outcome = spark.call("send_payment", prepared)
    assert (outcome.status, outcome.preimage) == ("settled", "cd" * 32)
    assert outcome.fees_paid_msat == 2000
    again = spark.call("send_payment", prepared)  # a duplicate resolves to the same payment
    assert again.status == "settled" and fake.sends == 1
    assert spark.call("reconcile_payment", prepared).status == "settled"
    assert spark.call("get_balance_msat") == (1000 - 302) * 1000
    sent = spark.call("lookup_invoice", payment_hash=prepared.payment_hash)
    assert (sent.type, sent.state, sent.fees_paid) == ("outgoing", "settled", 2000)
    assert sent.invoice == bolt11


def test_lost_answer_is_pending_then_reconciled_without_a_second_send(
    spark: Spark, fake: FakeSpark
) -> None:
    spark.fund(1000)
    prepared = spark.prepare(make_bolt11(100_000)[0])
    before_send = spark.state
    fake.lose_send_answer = True
    assert spark.call("send_payment", prepared).status == "pending"
    fake.lose_send_answer = False
    spark.state = before_send  # and the state written after the send was lost too
    outcome = spark.call("reconcile_payment", prepared)  # local storage: unknown -> sync -> found
    assert outcome is not None and outcome.status == "settled"
    assert fake.sends == 1 and fake.balance == 1000 - 102


def test_resend_after_lost_storage_cannot_pay_twice(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(1000)
    prepared = spark.prepare(make_bolt11(100_000)[0])
    before_send = spark.state
    fake.lose_send_answer = True
    spark.call("send_payment", prepared)
    fake.lose_send_answer = False
    spark.state = before_send
    again = spark.call("send_payment", prepared)  # the operators refuse the reused transfer id
    assert again.status == "pending" and fake.sends == 1


def test_insufficient_balance(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(100)
    with pytest.raises(NwcError) as exc:
        spark.prepare(make_bolt11(99_000)[0])  # 99 sat + 2 sat fee > 100 sat
    assert exc.value.code == ErrorCode.INSUFFICIENT_BALANCE and "101 sat" not in exc.value.message
    prepared = spark.prepare(make_bolt11(50_000)[0])
    fake.balance = 10  # spent elsewhere meanwhile: the SDK refuses before any transfer
    outcome = spark.call("send_payment", prepared)
    assert outcome.status == "failed" and "insufficient" in outcome.message


def test_failed_payment_is_failed(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(500)
    fake.send_status = "FAILED"
    outcome = spark.call("send_payment", spark.prepare(make_bolt11(10_000)[0]))
    assert outcome.status == "failed" and spark.call("get_balance_msat") == 500_000


def test_unreachable_operators_give_clear_errors(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(500)
    fake.unreachable = True
    with pytest.raises(NwcError) as exc:
        spark.invoice(5)
    assert exc.value.code == ErrorCode.INTERNAL and "unreachable" in exc.value.message
    with pytest.raises(NwcError) as exc:
        spark.prepare(make_bolt11(10_000)[0])
    assert exc.value.code == ErrorCode.INTERNAL and "try again" in exc.value.message
    fake.unreachable = False
    prepared = spark.prepare(make_bolt11(10_000)[0])
    fake.unreachable = True
    assert spark.call("send_payment", prepared).status == "pending"  # unknown, never "failed"
    assert spark.call("sync").received == []


def test_a_hanging_operator_costs_the_time_limit_only(spark: Spark, fake: FakeSpark) -> None:
    spark.fund(500)
    prepared = spark.prepare(make_bolt11(10_000)[0])
    fake.hang = True
    start = time.monotonic()
    with pytest.raises(NwcError) as exc:
        spark.call("make_invoice", amount_msat=1000, description=None, description_hash=None,
                   expiry=None, metadata=None, timeout=0.3)  # fmt: skip
    assert "did not answer within 0.3 s" in exc.value.message
    sync = spark.call("sync", timeout=0.3)
    assert sync.received == [] and sync.wake_at is not None
    wallet = spark.open(timeout=0.3)
    wallet.env.config = {"spark_payment_timeout_s": 0}
    assert wallet.send_payment(prepared).status == "pending"
    wallet.close()
    assert time.monotonic() - start < 3


def test_list_transactions_pages_newest_first(spark: Spark, fake: FakeSpark) -> None:
    for i, sats in enumerate((10, 20, 30)):  # distinct times, older first
        fake.pay_in(spark.invoice(sats).invoice, now=int(time.time()) - 100 + 10 * i)
        spark.call("sync")
    open_tx = spark.invoice(7)
    page = spark.call(
        "list_transactions", from_time=None, until=None, limit=2, offset=0, unpaid=False,
        tx_type=None,
    )  # fmt: skip
    assert [t.amount for t in page] == [30_000, 20_000]
    rest = spark.call(
        "list_transactions", from_time=None, until=None, limit=5, offset=2, unpaid=False,
        tx_type="incoming",
    )  # fmt: skip
    assert [t.amount for t in rest] == [10_000]
    with_unpaid = spark.call(
        "list_transactions", from_time=None, until=None, limit=10, offset=0, unpaid=True,
        tx_type=None,
    )  # fmt: skip
    assert with_unpaid[0].payment_hash == open_tx.payment_hash, with_unpaid
    assert len(with_unpaid) == 4
    assert spark.call(
        "list_transactions", from_time=None, until=None, limit=10, offset=0, unpaid=False,
        tx_type="outgoing",
    ) == []  # fmt: skip


def test_mainnet_api_key_is_required_and_never_echoed(fake: FakeSpark, tmp_path: Path) -> None:
    with pytest.raises(NwcError) as exc:
        Spark(fake, "mainnet")
    assert exc.value.code == ErrorCode.INTERNAL and "breez_api_key" in exc.value.message
    key = "c2VjcmV0LWFwaS1rZXk="
    remember_secret(key)
    spark = Spark(fake, "mainnet", breez_api_key=key)
    assert fake.connects[-1].config.api_key == key
    assert spark.call("get_info")["network"] == "mainnet"
    keyfile = tmp_path / "breez_api_key"
    keyfile.write_text(key + "\n")
    Spark(fake, "mainnet", breez_api_key_file=str(keyfile))
    assert fake.connects[-1].config.api_key == key


def test_lightning_address_registration(spark: Spark) -> None:
    assert spark.call("register_lightning_address", "satoshi") == "satoshi@breez.tips"
    assert spark.call("get_info")["lud16"] == "satoshi@breez.tips"


def test_storage_folder_travels_in_the_state(spark: Spark) -> None:
    spark.fund(42)
    record = json.loads(spark.state)["storage"]
    assert record["format"] == "tar+zlib" and record["size"] > 0
    assert spark.call("get_balance_msat") == 42_000  # a fresh folder, restored from the state
    before = spark.state
    spark.call("get_balance_msat")
    assert spark.state == before  # an unchanged folder is not rewritten


def test_webhook_signature() -> None:
    from signer_core.wallets.spark import webhooks

    body = b'{"type":"SPARK_LIGHTNING_RECEIVE_FINISHED"}'
    good = webhooks.sign(body, "s3cret")
    assert webhooks.verify(body, good, "s3cret") and webhooks.verify(
        body, "sha256=" + good, "s3cret"
    )
    assert not webhooks.verify(body + b" ", good, "s3cret")
    assert not webhooks.verify(body, good, "other") and not webhooks.verify(body, None, "s3cret")


def test_a_failed_sync_is_not_retried_by_every_request(spark: Spark, fake: FakeSpark) -> None:
    """While the operators are unreachable, each request would wait out the SDK's time
    limits again; after a failed sync a warm process answers from the stored state until
    the wake-up it asked for (FAST_POLL_S later), then tries again."""
    from signer_core.wallets.spark import incoming

    incoming.FAILED_SYNC_AT.clear()
    spark.invoice(21)  # an open invoice: every request would sync
    now = int(time.time())
    assert spark.open(now=now).needs_sync()
    fake.hang = True
    wallet = spark.open(timeout=0.2, now=now)
    try:
        result = wallet.sync()  # the hanging operator costs the time limit once
    finally:
        spark.state = json.dumps(wallet.data)
        wallet.close()
    assert result.received == [] and result.wake_at == now + incoming.FAST_POLL_S
    assert not spark.open(now=now + 5).needs_sync()  # backing off: answer at once
    fake.hang = False
    later = spark.open(now=now + incoming.FAST_POLL_S)
    assert later.needs_sync()  # the wake-up it asked for syncs again
    try:
        later.sync()
    finally:
        later.close()
    assert incoming.FAILED_SYNC_AT == {}  # a good sync ends the back-off
