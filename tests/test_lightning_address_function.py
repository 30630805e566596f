"""The function's side of a lightning address, through functions/local on a real wallet
folder and the real nutshell mint: an `invoice` delivery answered with a bolt11, refusals
answered with a reason, and the NIP-57 zap receipt signed exactly once when a sync (a
wake-up or an NWC request) sees the zap invoice paid."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from signer_core.protocol import zaps
from signer_core.protocol.bolt11 import decode
from signer_core.protocol.events import sign_event, tag_value, verify_event
from signer_core.protocol.webhook import WebhookResponse, invoice_delivery
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = pytest.mark.mint

METADATA = json.dumps([["text/plain", "Pay to zed@w.test"], ["text/identifier", "zed@w.test"]])
RECIPIENT = "cd" * 32


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


@pytest.fixture
def app(wallet: LocalWallet) -> App:
    return wallet.add_app(name="main")


def zap_request(amount: int, sender: bytes | None = None) -> dict[str, Any]:
    tags = [["p", RECIPIENT], ["e", "ee" * 32], ["relays", "ws://127.0.0.1:9", "wss://r.test"],
            ["amount", str(amount)]]  # fmt: skip
    return dict(sign_event(sender or os.urandom(32), 9734, "great post", tags))


def ask(wallet: LocalWallet, amount: int, **kw: Any) -> WebhookResponse:
    res = wallet.send(invoice_delivery(amount, METADATA, address="zed@w.test", **kw))
    assert res.status == 200, res.message
    return res


def zap_pubkey(wallet: LocalWallet) -> str:
    from functions.local.datadir import DataDir

    folder = DataDir(wallet.path)
    root, wallet_id = folder.secrets().root_secret, folder.config().wallet_id
    remember_secret(zaps.zap_secret(root, wallet_id))  # for the log check (test_zz_…)
    return zaps.zap_pubkey(root, wallet_id)


def test_an_invoice_for_the_address(wallet: LocalWallet, app: App) -> None:
    assert "lud16" not in wallet.call(app, "get_info")["result"]
    res = ask(wallet, 21_000, comment="thanks")
    assert wallet.call(app, "get_info")["result"]["lud16"] == "zed@w.test"
    assert res.invoice is not None and "pr" in res.invoice
    assert res.wake_at is not None  # so the payment is noticed while the function sleeps
    invoice = decode(res.invoice["pr"])
    assert invoice.amount_msat == 21_000
    # Cashu mint quotes take no description hash: the metadata's text/plain instead
    assert invoice.description == "Pay to zed@w.test"
    listed = wallet.call(app, "list_transactions", {"unpaid": True})["result"]["transactions"]
    mine = [t for t in listed if t["invoice"] == res.invoice["pr"]]
    assert mine and mine[0]["metadata"]["lightning_address"]["comment"] == "thanks"


def test_refusals_carry_a_reason(wallet: LocalWallet) -> None:
    cases = {
        "between": invoice_delivery(zaps.MAX_SENDABLE_MSAT + 1000, METADATA),
        "whole number": invoice_delivery(1500, METADATA),  # the Cashu backend's own refusal
        "amount tag": invoice_delivery(5000, METADATA, zap_request=zap_request(4000)),
        "invalid zap request": invoice_delivery(
            5000, METADATA, zap_request={**zap_request(5000), "content": "forged"}
        ),
    }
    for reason, delivery in cases.items():
        res = wallet.send(delivery)
        assert res.status == 200, res.message
        assert res.invoice is not None and reason in res.invoice.get("reason", ""), res.invoice


def receipts(res: WebhookResponse) -> list[dict[str, Any]]:
    return [e for e in res.events if e["kind"] == zaps.ZAP_RECEIPT_KIND]


def test_a_paid_zap_yields_one_receipt_on_a_wake(wallet: LocalWallet, app: App) -> None:
    sender = os.urandom(32)
    request = zap_request(5000, sender)
    res = ask(wallet, 5000, zap_request=request)
    assert res.invoice is not None
    pr = res.invoice["pr"]
    assert receipts(res) == []  # not paid yet
    woke = wallet.wake()  # the test mint's fake backend pays a quote when it is first checked
    assert woke.status == 200, woke.message
    found = receipts(woke)
    assert len(found) == 1
    receipt = dict(verify_event(found[0]))
    assert receipt["pubkey"] == zap_pubkey(wallet)
    assert tag_value(receipt, "p") == RECIPIENT
    assert tag_value(receipt, "e") == "ee" * 32
    assert tag_value(receipt, "P") == request["pubkey"]
    assert tag_value(receipt, "bolt11") == pr
    description = tag_value(receipt, "description")
    assert description is not None and json.loads(description) == request
    assert zaps.receipt_relays(receipt) == ["ws://127.0.0.1:9", "wss://r.test"]
    # the same payment is never reported again
    assert receipts(wallet.wake()) == []
    assert receipts(wallet.wake()) == []
    # and the money is there, once
    assert wallet.call(app, "get_balance")["result"]["balance"] == 5000


def test_a_zap_paid_before_an_nwc_request_gets_its_receipt_there(
    wallet: LocalWallet, app: App
) -> None:
    res = ask(wallet, 3000, zap_request=zap_request(3000))
    assert res.invoice is not None
    # no wake-up: the next NWC request syncs the wallet and finds the invoice paid
    answered = wallet.deliver(app.request("get_balance"))
    assert answered.status == 200, answered.message
    assert len(receipts(answered)) == 1
    assert receipts(wallet.wake()) == []


def test_the_description_hash_where_a_backend_has_one() -> None:
    """The hash the invoice commits to: sha256 of the metadata, or of the zap request JSON
    exactly as the receipt's description carries it."""
    request = zap_request(1000)
    parsed = zaps.check_zap_request(json.dumps(request), 1000)
    assert zaps.description_hash(METADATA) == hashlib.sha256(METADATA.encode()).hexdigest()
    assert (
        zaps.description_hash(parsed.json())
        == hashlib.sha256(zaps.canonical_json(request).encode()).hexdigest()
    )
    receipt = zaps.zap_receipt(os.urandom(32), request, bolt11="lnbc1", paid_at=1_700_000_000)
    assert tag_value(receipt, "description") == parsed.json()
