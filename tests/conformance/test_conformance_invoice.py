"""The lightning address's `invoice` delivery against every runtime (docs/webhook.md): the
same answer (a bolt11, or a reason), the same zap receipt once the invoice is paid, the same
400 for a malformed body, whichever platform hosts the function."""

from __future__ import annotations

import json
import os
import time

import pytest

from signer_core.protocol import zaps
from signer_core.protocol.bolt11 import decode
from signer_core.protocol.events import sign_event, tag_value, verify_event
from signer_core.protocol.webhook import invoice_delivery, sign_delivery
from tests.conformance.conftest import Driver

pytestmark = pytest.mark.mint

META = json.dumps([["text/plain", "Pay to zed@w.test"], ["text/identifier", "zed@w.test"]])


def test_invoice_request_then_one_zap_receipt(driver: Driver) -> None:
    tags = [["p", "cd" * 32], ["relays", "wss://r.test"], ["amount", "2000"]]
    zap = dict(sign_event(os.urandom(32), 9734, "", tags))
    before = driver.target.blob()
    res = driver.send(invoice_delivery(2000, META, zap_request=zap, address="zed@w.test"))
    assert res.status == 200, res.message
    assert driver.target.blob() != before, "the invoice was not recorded"
    assert res.invoice is not None and decode(res.invoice["pr"]).amount_msat == 2000
    assert res.wake_at is not None
    # the test mint pays it when first asked: the wake-up's sync sees it paid
    found = []
    for _ in range(50):
        woke = driver.wake()
        assert woke.status == 200, woke.message
        found += [e for e in woke.events if e["kind"] == zaps.ZAP_RECEIPT_KIND]
        if found:
            break
        time.sleep(0.05)
    assert len(found) == 1
    receipt = verify_event(found[0])
    assert tag_value(receipt, "bolt11") == res.invoice["pr"]
    assert tag_value(receipt, "P") == zap["pubkey"]
    again = driver.wake()
    assert [e for e in again.events if e["kind"] == zaps.ZAP_RECEIPT_KIND] == []


def test_invoice_refusal_has_a_reason(driver: Driver) -> None:
    res = driver.send(invoice_delivery(zaps.MAX_SENDABLE_MSAT + 1000, META))
    assert res.status == 200, res.message
    assert res.invoice is not None and "between" in res.invoice["reason"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"invoice"}',
        b'{"type":"invoice","invoice":{"amount":true,"metadata":"[]"}}',
        b'{"type":"invoice","invoice":{"amount":1000}}',
    ],
)
def test_malformed_invoice_bodies_are_400(driver: Driver, body: bytes) -> None:
    before = driver.target.blob()
    headers = sign_delivery(body, driver.target.watcher_secret, int(time.time()))
    response = driver.target.post(headers, body)
    assert response.status == 400, response.message
    assert driver.target.blob() == before
