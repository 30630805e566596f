"""The entry-point conformance suite: the same signed deliveries against every runtime in
RUNTIMES (conftest.py), the same answers expected of each — status, decrypted reply, and
whether the stored state changed."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.challenge import verify_challenge
from signer_core.protocol.webhook import challenge_delivery, request_delivery, sign_delivery
from signer_core.vault.keys import registration_secret
from tests.conformance.conftest import Driver, store_fault
from tests.conftest import mint_invoice
from tests.nwc import App

pytestmark = pytest.mark.mint


def unchanged(driver: Driver, action: Callable[[], Any]) -> Any:
    before = driver.target.blob()
    out = action()
    assert driver.target.blob() == before, "the state was written"
    return out


def changed(driver: Driver, action: Callable[[], Any]) -> Any:
    before = driver.target.blob()
    out = action()
    assert driver.target.blob() != before, "the state was not written"
    return out


# --- every method ---------------------------------------------------------------------


def test_get_info(driver: Driver) -> None:
    out = unchanged(driver, lambda: driver.call("get_info"))
    assert out["error"] is None
    assert {"pay_invoice", "make_invoice", "get_balance"} <= set(out["result"]["methods"])
    assert out["result"]["notifications"] == ["payment_received", "payment_sent"]


def test_get_balance_and_budget(driver: Driver) -> None:
    balance = unchanged(driver, driver.balance)
    assert balance > 0
    budget = unchanged(driver, lambda: driver.call("get_budget"))
    assert budget["error"] is None and budget["result_type"] == "get_budget"


def test_make_lookup_and_list(driver: Driver) -> None:
    made = changed(driver, lambda: driver.call("make_invoice", {"amount": 21_000}))
    assert made["error"] is None
    invoice = made["result"]
    assert invoice["amount"] == 21_000 and invoice["type"] == "incoming"
    by_hash = {"payment_hash": invoice["payment_hash"]}
    # the test mint pays it when first asked: that sync records the payment (a write) ...
    settled = changed(driver, lambda: driver.call("lookup_invoice", by_hash))
    assert settled["result"]["state"] == "settled"
    # ... and from then on looking and listing change nothing
    looked = unchanged(driver, lambda: driver.call("lookup_invoice", by_hash))
    assert looked["result"]["invoice"] == invoice["invoice"]
    listed = unchanged(driver, lambda: driver.call("list_transactions", {}))
    hashes = [t["payment_hash"] for t in listed["result"]["transactions"]]
    assert invoice["payment_hash"] in hashes
    missing = unchanged(driver, lambda: driver.call("lookup_invoice", {"payment_hash": "11" * 32}))
    assert missing["error"]["code"] == "NOT_FOUND"


def test_pay_invoice_once_even_when_delivered_twice(driver: Driver, mint_url: str) -> None:
    start = driver.balance()
    event = driver.app.request("pay_invoice", {"invoice": mint_invoice(mint_url, 10)})
    first = changed(driver, lambda: driver.deliver(event))
    assert first.status == 200
    paid = driver.app.read(first.events[0])
    assert paid["error"] is None, paid
    assert isinstance(paid["result"]["preimage"], str)  # internal settlement: may be empty
    fee = paid["result"]["fees_paid"]
    assert driver.balance() == start - 10_000 - fee
    again = unchanged(driver, lambda: driver.deliver(event))
    assert again.status == 200
    assert again.events[0]["id"] == first.events[0]["id"]  # the very same signed reply
    assert driver.balance() == start - 10_000 - fee


def test_unknown_method_and_encryption(driver: Driver) -> None:
    out = unchanged(driver, lambda: driver.call("pay_keysend", {}))
    assert out["error"]["code"] == "NOT_IMPLEMENTED"
    odd = App(driver.app.uri, driver.app.secret, "nip44_v9")
    response = unchanged(driver, lambda: driver.deliver(odd.request("get_balance")))
    assert response.status == 200
    answer = App(driver.app.uri, driver.app.secret, "nip44_v2").read(response.events[0])
    assert answer["error"]["code"] == "UNSUPPORTED_ENCRYPTION"


# --- refusals -------------------------------------------------------------------------


def test_bad_signature_is_401_before_storage(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = request_delivery(driver.app.request("get_balance")).encode()
    headers = sign_delivery(body, driver.target.watcher_secret, int(time.time()))
    tampered = body.replace(b'"attempt": 1', b'"attempt": 2')
    stale = sign_delivery(body, driver.target.watcher_secret, int(time.time()) - 3600)
    # with the store down, any read would answer 503: a 401 proves nothing was read
    with store_fault(driver, monkeypatch, "read_down") as reads:
        assert driver.target.post(headers, tampered).status == 401
        assert driver.target.post(stale, body).status == 401
        assert driver.target.post({}, body).status == 401
        assert reads() == 0


def test_stranger_gets_unauthorized(driver: Driver) -> None:
    stranger = App.stranger(driver.app.uri.service_pubkey)
    response = unchanged(driver, lambda: driver.deliver(stranger.request("get_balance")))
    assert response.status == 200
    assert stranger.read(response.events[0])["error"]["code"] == "UNAUTHORIZED"


def test_expired_request_is_ignored(driver: Driver) -> None:
    past = str(int(time.time()) - 10)
    event = driver.app.request("make_invoice", {"amount": 1000}, extra_tags=[["expiration", past]])
    response = unchanged(driver, lambda: driver.deliver(event))
    assert (response.status, response.events) == (200, [])


def test_unknown_service_key_is_404(driver: Driver) -> None:
    other = App.stranger("ab" * 32)
    response = unchanged(driver, lambda: driver.deliver(other.request("get_balance")))
    assert response.status == 404


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type":"dance"}',
        b'{"type":"request"}',
        b'{"type":"challenge"}',
        b'{"type":"challenge","challenge":{"nonce":"xy","function_url":"https://f.example"}}',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_malformed_bodies_are_400(driver: Driver, body: bytes) -> None:
    headers = sign_delivery(body, driver.target.watcher_secret, int(time.time()))
    response = unchanged(driver, lambda: driver.target.post(headers, body))
    assert response.status == 400, response.message


def test_invalid_event_is_400(driver: Driver) -> None:
    event = dict(driver.app.request("get_balance"))
    event["content"] = event["content"][:-4] + "AAAA"  # the id no longer matches
    body = json.dumps({"type": "request", "event": event}).encode()
    headers = sign_delivery(body, driver.target.watcher_secret, int(time.time()))
    assert unchanged(driver, lambda: driver.target.post(headers, body)).status == 400


# --- storage trouble ------------------------------------------------------------------


def test_one_version_conflict_is_retried(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    with store_fault(driver, monkeypatch, "conflict_once") as conflicts:
        out = changed(driver, lambda: driver.call("make_invoice", {"amount": 5000}))
        assert out["error"] is None and conflicts() == 1


def test_endless_conflicts_are_409(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    event = driver.app.request("make_invoice", {"amount": 5000})
    with store_fault(driver, monkeypatch, "conflict_always") as conflicts:
        response = unchanged(driver, lambda: driver.deliver(event))
        assert conflicts() > 1
    assert response.status == 409 and response.retry_after is not None


@pytest.mark.parametrize("operation", ["read", "write"])
def test_store_outage_is_503(
    driver: Driver, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    event = driver.app.request("make_invoice", {"amount": 5000})
    before = driver.target.blob()
    with store_fault(driver, monkeypatch, f"{operation}_down") as outages:
        response = driver.deliver(event)
        assert outages() >= 1
    assert response.status == 503 and response.retry_after is not None
    assert driver.target.blob() == before


# --- wake-ups ---------------------------------------------------------------------------


def test_wake_publishes_every_connection_info_event(driver: Driver) -> None:
    second = driver.target.add_app("second")
    response = driver.wake()
    assert response.status == 200
    infos = [e for e in response.events if e["kind"] == 13194]
    authors = {e["pubkey"] for e in infos}
    assert {driver.app.uri.service_pubkey, second.uri.service_pubkey} <= authors


# --- registration challenge -------------------------------------------------------------


def _registration_pubkey(target: Any) -> str:
    """The wallet's registration key as the watcher knows it (from the test's own copy)."""
    wallet = target.wallet
    if hasattr(wallet, "root_secret_hex"):  # lambda: the secret lives in the moto stack
        root, wallet_id = bytes.fromhex(wallet.root_secret_hex()), wallet.stack.env["WALLET_ID"]
    else:
        from functions.local.datadir import DataDir

        folder = DataDir(wallet.path)
        root, wallet_id = folder.secrets().root_secret, folder.config().wallet_id
    return xonly_pubkey(registration_secret(root, wallet_id)).hex()


def test_registration_challenge_is_signed_by_the_registration_key(driver: Driver) -> None:
    nonce, url = secrets.token_hex(32), "https://signer.example/webhook"
    watcher = xonly_pubkey(driver.target.watcher_secret).hex()
    response = unchanged(driver, lambda: driver.send(challenge_delivery(nonce, url)))
    assert (response.status, response.events) == (200, [])
    signature = response.challenge_signature
    wallet = _registration_pubkey(driver.target)
    assert verify_challenge(signature, wallet, nonce, watcher, url)
    # bound to the nonce, the URL and the watcher: not reusable for another registration
    assert not verify_challenge(signature, wallet, "00" * 32, watcher, url)
    assert not verify_challenge(signature, wallet, nonce, watcher, url + "/other")
    assert not verify_challenge(signature, wallet, nonce, "11" * 32, url)
