"""The `invoice` delivery and its answer on the wire (signer_core/protocol/webhook.py), and the
NIP-57 pieces both sides share (signer_core/protocol/zaps.py): hostile input is refused with
a reason, never raised as anything else."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from signer_core.protocol import zaps
from signer_core.protocol.events import sign_event
from signer_core.protocol.webhook import (
    BadDelivery,
    WebhookResponse,
    encode_response,
    invoice_delivery,
    parse_delivery,
    parse_response,
)
from signer_core.vault.keys import registration_secret

META = '[["text/plain", "x"]]'


def body(invoice: Any) -> bytes:
    return json.dumps({"type": "invoice", "invoice": invoice}).encode()


def test_invoice_delivery_round_trip() -> None:
    zap = dict(sign_event(os.urandom(32), 9734, "", [["p", "ab" * 32]]))
    sent = invoice_delivery(5000, META, zap_request=zap, comment="hi", address="a@b",
                            delivery_id="lnurl-1")  # fmt: skip
    got = parse_delivery(sent.encode())
    assert got.type == "invoice" and got.delivery_id == "lnurl-1"
    assert got.invoice == {"amount": 5000, "metadata": META, "address": "a@b",
                           "comment": "hi", "zap_request": zap}  # fmt: skip


@pytest.mark.parametrize(
    "invoice",
    [
        None,
        [],
        {"amount": True, "metadata": META},
        {"amount": 0, "metadata": META},
        {"amount": -5, "metadata": META},
        {"amount": 1.5, "metadata": META},
        {"amount": "1000", "metadata": META},
        {"amount": 10**30, "metadata": META},
        {"amount": 1000},
        {"amount": 1000, "metadata": ""},
        {"amount": 1000, "metadata": "x" * 9000},
        {"amount": 1000, "metadata": META, "comment": 5},
        {"amount": 1000, "metadata": META, "comment": "x" * 641},
        {"amount": 1000, "metadata": META, "zap_request": "not an object"},
    ],
)
def test_malformed_invoice_deliveries_are_400(invoice: Any) -> None:
    with pytest.raises(BadDelivery):
        parse_delivery(body(invoice))


def test_invoice_answers_are_read_leniently() -> None:
    def read(answer: Any) -> dict[str, str] | None:
        raw = json.dumps({"events": [], "invoice": answer}).encode()
        return parse_response(200, {}, raw).invoice

    assert read({"pr": "lnbcrt10n1xyz"}) == {"pr": "lnbcrt10n1xyz"}
    assert read({"reason": "no"}) == {"reason": "no"}
    assert read({"reason": "r" * 500}) == {"reason": "r" * 200}
    for bad in ({"pr": "bitcoin:abc"}, {"pr": "ln" + "é"}, {"pr": 5}, "lnbc1", {"reason": ""}):
        assert read(bad) is None
    status, _, raw = encode_response(WebhookResponse(200, invoice={"pr": "lnbc1x"}))
    assert parse_response(status, {}, raw).invoice == {"pr": "lnbc1x"}


def test_the_zap_key_is_its_own() -> None:
    root = os.urandom(32)
    key = zaps.zap_secret(root, "w1")
    assert key == zaps.zap_secret(root, "w1")  # derived, not stored
    assert key != zaps.zap_secret(root, "w2")
    assert key != registration_secret(root, "w1")
    with pytest.raises(ValueError):
        zaps.zap_secret(b"short", "w1")


def request(tags: list[list[str]], kind: int = 9734) -> dict[str, Any]:
    return dict(sign_event(os.urandom(32), kind, "", tags))


P, RELAYS = ["p", "ab" * 32], ["relays", "wss://r.example"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x" * 5000, "too large"),
        ("{", "JSON"),
        (request([P, RELAYS], kind=1), "kind"),
        (request([RELAYS]), "p tag"),
        (request([["p", "not hex"], RELAYS]), "p tag"),
        (request([P, RELAYS, ["e", "1" * 64], ["e", "2" * 64]]), "e tag"),
        (request([P, RELAYS, ["P", "zz"]]), "P tag"),
        (request([P, ["relays", "https://not.a.relay", "ws://bad host"]]), "relays"),
        (request([P, RELAYS, ["amount", "١٠٠٠"]]), "amount tag"),
        (request([P, RELAYS, ["amount", "999"]]), "amount tag"),
    ],
)
def test_zap_request_refusals(raw: Any, reason: str) -> None:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    with pytest.raises(zaps.BadZapRequest, match=reason):
        zaps.check_zap_request(text, 1000)


def test_a_receipt_names_its_zap_requests_relays_only() -> None:
    zap = request([P, ["relays", "wss://a", "ws://b", "http://c", "wss://a"], ["amount", "1000"]])
    assert zaps.check_zap_request(zap, 1000).relays == ("wss://a", "ws://b")
    receipt = zaps.zap_receipt(os.urandom(32), zap, bolt11="lnbc1", paid_at=1_700_000_000)
    assert zaps.receipt_relays(receipt) == ["wss://a", "ws://b"]
    assert zaps.receipt_relays({**receipt, "kind": 1}) == []
    broken = {**receipt, "tags": [["description", "{not json"]]}
    assert zaps.receipt_relays(broken) == []
    deep = {**receipt, "tags": [["description", "[" * 200 + "]" * 200]]}
    assert zaps.receipt_relays(deep) == []
