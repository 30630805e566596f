"""CashuWallet against a real nutshell mint (fake Lightning backend): receive, pay, fees,
refusals, lookups, restore from seed. Every call opens a new wallet from the state
round-tripped through JSON, as the cold-start pipeline does (tests/conftest.py JsonWallet)."""

from __future__ import annotations

import json

import pytest

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import Wallet
from tests.conftest import JsonWallet, mint_invoice

pytestmark = pytest.mark.mint

# BOLT-11 spec example: a donation invoice without an amount
AMOUNTLESS = (
    "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyq"
    "cyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfj"
    "kxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r"
    "2t7mlcwspyetp5h2tztugp9lfyql"
)


def test_new_wallet_is_offline_and_satisfies_the_protocol(mint_url: str) -> None:
    w = JsonWallet(mint_url)
    wallet = w.open()
    assert isinstance(wallet.kind, str) and wallet.kind == "cashu"
    _: Wallet = wallet  # structural check (mypy); runtime: the attributes exist
    assert wallet.get_balance_msat() == 0
    assert not wallet.needs_sync()
    assert wallet.sync().wake_at is None
    info = wallet.get_info()
    assert info["alias"] == "nwc-signer (cashu)" and info["network"] == "regtest"
    assert info["mint_url"] == mint_url
    assert wallet.methods == {
        "pay_invoice", "make_invoice", "lookup_invoice", "list_transactions", "get_balance",
        "get_info", "pay", "receive",
    }  # fmt: skip
    assert wallet.notifications == {"payment_received", "payment_sent"}
    assert wallet.data["v"] == 1
    # a mint on the internet is mainnet unless told otherwise
    assert JsonWallet("https://mint.example", network="").open().get_info()["network"] == "mainnet"


def test_make_invoice_then_sync_mints_and_notifies(mint_url: str) -> None:
    w = JsonWallet(mint_url)
    tx = w.invoice(21, "coffee")
    assert tx.type == "incoming" and tx.state == "pending" and tx.amount == 21_000
    assert tx.invoice.startswith("lnbc") and len(tx.payment_hash) == 64
    assert tx.description == "coffee" and tx.expires_at and tx.expires_at > tx.created_at
    assert w.call("needs_sync") is True
    assert w.balance() == 0
    pending = w.call("lookup_invoice", payment_hash=tx.payment_hash)
    assert pending.state == "pending"

    result = w.call("sync")
    assert [t.payment_hash for t in result.received] == [tx.payment_hash]
    got = result.received[0]
    assert got.state == "settled" and got.settled_at and got.amount == 21_000
    assert result.wake_at is None and w.call("needs_sync") is False
    assert w.balance() == 21
    assert sorted(p["amount"] for p in w.data["proofs"]) == [1, 4, 16]
    assert sum(w.data["counters"].values()) == 3
    looked = w.call("lookup_invoice", payment_hash=tx.payment_hash)
    assert looked.state == "settled" and looked.to_nip47()["invoice"] == tx.invoice
    # a second sync does nothing and a second wallet with another seed sees nothing
    assert w.call("sync").received == []
    assert w.balance() == 21


def test_make_invoice_refuses_what_a_cashu_mint_cannot_do(mint_url: str) -> None:
    w = JsonWallet(mint_url)
    before = w.state
    with pytest.raises(NwcError) as err:
        w.call(
            "make_invoice",
            amount_msat=1500,
            description=None,
            description_hash=None,
            expiry=None,
            metadata=None,
        )
    assert err.value.code == ErrorCode.OTHER and "whole number of satoshis" in err.value.message
    with pytest.raises(NwcError) as err:
        w.call(
            "make_invoice",
            amount_msat=0,
            description=None,
            description_hash=None,
            expiry=None,
            metadata=None,
        )
    assert err.value.code == ErrorCode.OTHER
    with pytest.raises(NwcError) as err:
        w.call(
            "make_invoice",
            amount_msat=1000,
            description=None,
            description_hash="ab" * 32,
            expiry=None,
            metadata=None,
        )
    assert err.value.code == ErrorCode.NOT_IMPLEMENTED
    assert w.state == before


def test_pay_invoice_through_lightning_with_change(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(100)
    invoice = external_invoice(10)
    prepared = w.prepare(invoice)
    assert prepared.amount_msat == 10_000 and prepared.fee_reserve_msat == 2_000
    reserved = [p for p in w.data["proofs"] if p.get("reserved") == prepared.reference]
    assert sum(p["amount"] for p in reserved) == 64  # send swaps it to an exact 10 + 2 first
    claim = json.dumps(prepared.to_dict())  # stored in the ledger: no bearer secrets in it
    assert not any(p["secret"] in claim for p in w.data["proofs"])
    assert w.balance() == 36
    assert w.call("needs_sync") is False  # prepared, not in flight

    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled"
    assert outcome.preimage == "00" * 32  # the fake backend's preimage
    assert outcome.fees_paid_msat == 1_000  # the fake backend charges 1 sat of the 2 reserved
    assert w.balance() == 100 - 10 - 1
    assert not any(p.get("reserved") for p in w.data["proofs"])
    tx = w.call("lookup_invoice", payment_hash=prepared.payment_hash)
    assert tx.type == "outgoing" and tx.state == "settled" and tx.fees_paid == 1_000
    assert tx.preimage == outcome.preimage and tx.settled_at
    # the same prepared payment again: the stored outcome, nothing paid twice
    assert w.call("send_payment", prepared) == outcome
    assert w.call("reconcile_payment", prepared) == outcome
    assert w.balance() == 89
    with pytest.raises(NwcError) as err:
        w.prepare(invoice)
    assert err.value.code == ErrorCode.PAYMENT_FAILED


def test_pay_another_wallet_of_the_same_mint(mint_url: str) -> None:
    """An internal payment: no Lightning fee, the whole reserve comes back as change, and the
    payee's next sync mints it."""
    payer, payee = JsonWallet(mint_url), JsonWallet(mint_url)
    payer.fund(64)
    tx = payee.invoice(20)
    prepared, outcome = payer.pay(tx.invoice)
    assert outcome.status == "settled" and outcome.fees_paid_msat == 0
    assert payer.balance() == 44
    received = payee.call("sync").received
    assert [t.amount for t in received] == [20_000]
    assert payee.balance() == 20


def test_insufficient_balance_reserves_nothing(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    before = w.state
    for sats in (500, 49):  # 49: enough for the amount, not for amount + fee reserve
        with pytest.raises(NwcError) as err:
            w.prepare(external_invoice(sats))
        assert err.value.code == ErrorCode.INSUFFICIENT_BALANCE
        assert "50 sat available" in err.value.message
        assert w.state == before
    assert w.balance() == 50


def test_refused_and_invalid_invoices_change_nothing(mint_url: str) -> None:
    payer, payee = JsonWallet(mint_url), JsonWallet(mint_url)
    payer.fund(30)
    paid = payee.fund(5)  # the mint marked this invoice paid: it refuses to melt it now
    before = payer.state
    with pytest.raises(NwcError) as err:
        payer.prepare(paid.invoice)
    assert err.value.code == ErrorCode.PAYMENT_FAILED
    assert "the mint refused the invoice" in err.value.message
    assert "quote already issued" in err.value.message  # the mint's words, never shown
    with pytest.raises(NwcError) as err:
        payer.prepare("lnbc1notaninvoice")
    assert err.value.code == ErrorCode.OTHER and "invalid invoice" in err.value.message
    with pytest.raises(NwcError) as err:
        payer.prepare(AMOUNTLESS, amount_msat=5_000)
    assert err.value.code == ErrorCode.OTHER and "amountless" in err.value.message
    invoice = mint_invoice(mint_url, 3)
    with pytest.raises(NwcError) as err:
        payer.prepare(invoice, amount_msat=4_000)
    assert err.value.code == ErrorCode.OTHER and "does not match" in err.value.message
    assert payer.state == before


def test_cancel_releases_the_reservation(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(40)
    prepared = w.prepare(external_invoice(8))
    assert w.balance() == 8  # the 32 sat proof its swap would spend
    w.call("cancel_payment", prepared)
    assert w.balance() == 40
    assert w.data["payments"] == {}
    assert w.call("lookup_invoice", payment_hash=prepared.payment_hash) is None


def test_input_fees_are_paid_and_accounted(fee_mint_url: str, mint_url: str) -> None:
    """NUT-02: 100 ppk per input. The swap before the melt and the melt itself cost fees;
    fees_paid is exactly what left the wallet beyond the amount."""
    w = JsonWallet(fee_mint_url)
    w.fund(100)
    keyset = next(iter(w.data["keysets"].values()))
    assert keyset["input_fee_ppk"] == 100
    for sats in (10, 7, 33):
        before = w.balance()
        prepared, outcome = w.pay(mint_invoice(mint_url, sats))
        assert outcome.status == "settled", outcome
        spent = before - w.balance()
        assert spent * 1000 == sats * 1000 + outcome.fees_paid_msat
        assert outcome.fees_paid_msat <= prepared.fee_reserve_msat
    with pytest.raises(NwcError) as err:
        w.prepare(mint_invoice(mint_url, w.balance() - 2))
    assert err.value.code == ErrorCode.INSUFFICIENT_BALANCE
    assert "input fees" in err.value.message


def test_list_transactions_filters_and_orders(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(30)
    w.now_offset = 10
    w.invoice(7)  # stays unpaid: nobody checks it
    w.now_offset = 20
    w.pay(external_invoice(5))

    def ls(**kw):
        args = {
            "from_time": None,
            "until": None,
            "limit": 20,
            "offset": 0,
            "unpaid": False,
            "tx_type": None,
        }
        args.update(kw)
        return w.call("list_transactions", **args)

    paid = ls()
    assert [(t.type, t.amount) for t in paid] == [("outgoing", 5_000), ("incoming", 30_000)]
    every = ls(unpaid=True)
    assert [t.amount for t in every] == [5_000, 7_000, 30_000]
    assert [t.amount for t in ls(unpaid=True, tx_type="incoming")] == [7_000, 30_000]
    assert [t.amount for t in ls(unpaid=True, limit=1, offset=1)] == [7_000]
    newest = every[0].created_at
    assert [t.amount for t in ls(unpaid=True, from_time=newest)] == [5_000]
    assert [t.amount for t in ls(unpaid=True, until=newest - 1)] == [7_000, 30_000]
    for t in every:
        wire = t.to_nip47()
        assert {
            "type",
            "state",
            "invoice",
            "payment_hash",
            "amount",
            "fees_paid",
            "created_at",
        } <= set(wire)
        json.dumps(wire)


def test_restore_from_seed_rebuilds_the_balance(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(100)
    w.fund(23)
    w.pay(external_invoice(40))
    w.pay(external_invoice(3))
    balance = w.balance()
    assert balance == 123 - 43 - 2

    fresh = JsonWallet(mint_url, seed=w.seed)
    restored = fresh.call("restore", batch=10, empty_batches=2)
    assert restored == balance and fresh.balance() == balance
    assert fresh.data["counters"] == w.data["counters"]
    assert sorted(p["secret"] for p in fresh.data["proofs"]) == sorted(
        p["secret"] for p in w.data["proofs"]
    )
    # restoring again adds nothing; the restored wallet can pay
    assert fresh.call("restore", batch=10, empty_batches=2) == 0
    _, outcome = fresh.pay(external_invoice(5))
    assert outcome.status == "settled" and fresh.balance() == balance - 6
    # another seed finds nothing
    assert JsonWallet(mint_url).call("restore", batch=10, empty_batches=1) == 0
