"""NWC-321 `receive` through the pipeline on the real nutshell mint: make_invoice's own
handler makes the invoice, `receive` returns it as a BIP-321 URI another wallet can `pay`."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer_core.protocol import bip321
from signer_core.protocol.bolt11 import decode
from tests.nwc import LocalWallet

pytestmark = pytest.mark.mint


def test_receive_returns_a_bip321_uri_that_pays_and_notifies(tmp_path: Path, mint_url: str) -> None:
    payer = LocalWallet.create(tmp_path / "payer", mint_url)
    payer_app = payer.add_app(name="payer")
    payer.fund(payer_app, 100)
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    app = wallet.add_app(name="shop")
    event = app.request("receive", {"amount": 25_000, "description": "coffee"})
    first = wallet.deliver(event)
    out = app.read(first.events[0])
    assert out["result_type"] == "receive" and out["error"] is None, out
    uri = out["result"]["bip321"]
    assert uri.startswith("bitcoin:?lightning=lnbc")
    found = bip321.parse(uri)
    assert found.bolt11 is not None and found.offer is None and found.onchain_address is None
    invoice = decode(found.bolt11)
    assert invoice.amount_msat == 25_000 and invoice.description == "coffee"
    assert out["result"]["transaction_id"] == invoice.payment_hash

    # another wallet pays the URI as given (before this wallet looks at its mint quote:
    # the test mint's fake backend marks a quote paid the first time it is checked)
    paid = payer.call(payer_app, "pay", {"payment": uri})
    assert paid["error"] is None, paid
    assert paid["result"]["transaction_id"] == invoice.payment_hash

    again = wallet.deliver(event, attempt=2)  # a re-delivery: the same URI, no new invoice
    assert app.read(again.events[0]) == out
    notes = [
        app.read(e)
        for e in wallet.wake().events
        if e["kind"] == 23197 and e["tags"][0][1] == app.pubkey
    ]
    assert [n["notification_type"] for n in notes] == ["payment_received"]
    assert notes[0]["notification"]["payment_hash"] == invoice.payment_hash
    incoming = wallet.call(app, "list_transactions", {"unpaid": True})["result"]["transactions"]
    assert [t["payment_hash"] for t in incoming] == [invoice.payment_hash]
    looked = wallet.call(app, "lookup_invoice", {"payment_hash": invoice.payment_hash})
    assert looked["result"]["state"] == "settled" and looked["result"]["type"] == "incoming"
    assert wallet.call(app, "get_balance")["result"]["balance"] == 25_000


def test_receive_refusals(tmp_path: Path, mint_url: str) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    app = wallet.add_app(name="shop")
    no_amount = wallet.call(app, "receive", {"description": "any amount"})
    assert no_amount["error"]["code"] == "NOT_IMPLEMENTED", no_amount
    assert "(cashu)" in no_amount["error"]["message"]
    bad = wallet.call(app, "receive", {"amount": "1000"})
    assert bad["error"]["code"] == "BAD_REQUEST", bad
    bad = wallet.call(app, "receive", {"amount": 1000, "description": "x" * 1000})
    assert bad["error"]["code"] == "BAD_REQUEST", bad
    narrow = wallet.add_app("--methods", "make_invoice", name="narrow")
    refused = wallet.call(narrow, "receive", {"amount": 1000})
    assert refused["error"]["code"] == "RESTRICTED", refused
    assert wallet.call(app, "list_transactions", {"unpaid": True})["result"]["transactions"] == []
