"""Defects an outside probe found in the pipeline (issue #9): hostile input must get a 4xx or
an NWC error (never a 5xx the watcher would retry), concurrent readers must not raise a
false rollback alarm, and a request that changes nothing must not write the state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nwc_signer.dev.mint import DevMint
from signer_core.protocol.webhook import request_delivery, sign_delivery, signed_delivery
from signer_core.session import StateSession
from tests.nwc import App, LocalWallet

pytestmark = pytest.mark.mint

DEEP = 1000  # the probe's depth; json.loads gives up (RecursionError) near 1000


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


@pytest.fixture
def app(wallet: LocalWallet) -> App:
    return wallet.add_app(name="main")


def sealed(wallet: LocalWallet) -> bytes:
    return (wallet.path / "state" / "wallet.sealed").read_bytes()


def never_retried(status: int) -> bool:
    """What the watcher drops at once: any 2xx or 4xx except 409 (busy)."""
    return status < 500 and status != 409


@pytest.mark.parametrize("timestamp", ["²", "¹²³", "١٢٣٤٥٦٧٨٩٠", "𝟏𝟐𝟑", "1" * 40])
def test_unicode_digits_in_the_webhook_timestamp_are_refused_401(
    wallet: LocalWallet, app: App, timestamp: str
) -> None:
    body = json.dumps({"type": "request", "event": app.request("get_balance")}).encode()
    headers = sign_delivery(body, wallet.watcher_secret, int(time.time()))
    headers["x-nwc-timestamp"] = timestamp
    before = sealed(wallet)
    response = wallet.function().handle(headers, body)
    assert response.status == 401, response.message
    assert sealed(wallet) == before


@pytest.mark.parametrize("expiration", ["²", "¹²³", "٣٠٠٠٠٠٠٠٠٠", "9" * 40])
def test_unicode_digits_in_the_expiration_tag_are_a_400(
    wallet: LocalWallet, app: App, expiration: str
) -> None:
    event = app.request("get_balance", extra_tags=[["expiration", expiration]])
    before = sealed(wallet)
    response = wallet.deliver(event)
    assert response.status == 400, response.message
    assert "expiration" in response.message
    assert sealed(wallet) == before


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_webhook_body_is_a_400(
    wallet: LocalWallet, opener: str
) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * DEEP + "1" + closer * DEEP).encode()
    response = wallet.deliver_body(body)
    assert response.status == 400, response.message
    assert "Traceback" not in response.message


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_nwc_content_is_an_nwc_error_even_from_a_stranger(
    wallet: LocalWallet, app: App, opener: str
) -> None:
    closer = "]" if opener == "[" else "}"
    nested = '{"method":"get_balance","params":' + opener * DEEP + "1" + closer * DEEP + "}"
    stranger = App.stranger(app.uri.service_pubkey)
    before = sealed(wallet)
    for sender in (app, stranger):
        response = wallet.deliver(sender.request("x", content=sender._encrypt(nested)))
        assert never_retried(response.status), (response.status, response.message)
        assert response.status == 200
        answer = sender.read(response.events[0])
        assert answer["error"]["code"] == "OTHER"
        assert "JSON" in answer["error"]["message"]
    assert sealed(wallet) == before


READ_ONLY = [
    ("get_balance", {}),
    ("get_info", {}),
    ("get_budget", {}),
    ("list_transactions", {"limit": 5}),
    ("lookup_invoice", {"payment_hash": "00" * 32}),
]


def test_read_only_requests_and_an_idle_wake_write_nothing(wallet: LocalWallet, app: App) -> None:
    made = wallet.call(app, "make_invoice", {"amount": 1000})  # this one writes (ledgered)
    assert made["error"] is None
    for _ in range(100):  # the fake Lightning backend pays it; wake until it is minted
        wallet.wake()
        if wallet.call(app, "get_balance")["result"]["balance"] == 1000:
            break
        time.sleep(0.05)
    before = sealed(wallet)
    for method, params in READ_ONLY * 2:
        out = wallet.call(app, method, params)
        assert out["result_type"] == method
    assert wallet.wake().status == 200
    assert sealed(wallet) == before, "a read-only request or an idle wake-up wrote the state"


@pytest.fixture(scope="module")
def unpaying_mint_url() -> Iterator[str]:
    """A test mint whose fake Lightning backend never pays our invoices."""
    with DevMint(env={"FAKEWALLET_BRR": "false"}) as mint:
        yield mint.url


def test_checking_an_unpaid_invoice_writes_nothing(tmp_path: Path, unpaying_mint_url: str) -> None:
    wallet = LocalWallet.create(tmp_path / "lazy", unpaying_mint_url)
    app = wallet.add_app(name="main")
    made = wallet.call(app, "make_invoice", {"amount": 5000})
    assert made["error"] is None
    by_hash = {"payment_hash": made["result"]["payment_hash"]}
    before = sealed(wallet)
    for _ in range(2):  # each one asks the mint about the pending quote and finds it unpaid
        assert wallet.call(app, "lookup_invoice", by_hash)["result"]["state"] == "pending"
        assert wallet.call(app, "get_balance")["result"]["balance"] == 0
        woke = wallet.wake()
        assert woke.status == 200 and woke.wake_at is not None  # still watching the invoice
    assert sealed(wallet) == before, "a check that found nothing wrote the state"


def test_paying_requests_still_write(wallet: LocalWallet, app: App) -> None:
    before = sealed(wallet)
    assert wallet.call(app, "make_invoice", {"amount": 2000})["error"] is None
    assert sealed(wallet) != before


class InterleavingGuard:
    """The real guard; the first time the reader asks for the high-water mark, another
    writer commits a new generation first (an ordinary concurrent write)."""

    def __init__(self, wallet: LocalWallet) -> None:
        self.fn = wallet.function()
        self.inner = self.fn.guard
        self.fired = False

    def high_water(self) -> int:
        if not self.fired:
            self.fired = True
            fn = self.fn
            other = StateSession.read(fn.store, self.inner, fn.secrets, fn.config.wallet_id)
            other.open_as_admin()
            other.commit()  # generation N+1: blob first, then the mark (as every writer)
        return self.inner.high_water()

    def advance(self, generation: int) -> None:
        self.inner.advance(generation)


def test_a_write_between_reading_the_blob_and_the_mark_is_no_rollback(
    wallet: LocalWallet, app: App
) -> None:
    guard = InterleavingGuard(wallet)
    fn = guard.fn
    fn.guard = guard  # type: ignore[assignment]
    headers, body = signed_delivery(
        request_delivery(app.request("get_balance")), wallet.watcher_secret, int(time.time())
    )
    response = fn.handle(headers, body)
    assert guard.fired
    assert response.status == 200, response.message
    assert app.read(response.events[0])["result"] == {"balance": 0}


def test_a_real_rollback_is_still_refused(wallet: LocalWallet, app: App) -> None:
    old = sealed(wallet)
    assert wallet.call(app, "make_invoice", {"amount": 1000})["error"] is None
    state = wallet.path / "state" / "wallet.sealed"
    state.write_bytes(old)  # someone with write access to storage puts the old blob back
    response = wallet.deliver(app.request("get_balance"))
    assert response.status == 500
    assert "high-water" in response.message or "rolled back" in response.message


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("pay_invoice", {"invoice": "lnbc1garbage"}),
        ("pay_invoice", {"invoice": 42}),
        ("pay_invoice", {}),
        ("make_invoice", {"amount": "lots"}),
        ("make_invoice", {"amount": -5}),
    ],
)
def test_malformed_paying_requests_write_nothing(
    wallet: LocalWallet, app: App, method: str, params: dict[str, object]
) -> None:
    before = sealed(wallet)
    out = wallet.call(app, method, params)
    assert out["error"] is not None
    assert sealed(wallet) == before, "an input error was recorded in the ledger (a write)"


def test_a_refused_payment_stays_refused_when_delivered_again(
    wallet: LocalWallet, app: App, mint_url: str
) -> None:
    from tests.conftest import mint_invoice

    event = app.request("pay_invoice", {"invoice": mint_invoice(mint_url, 50)})
    first = wallet.deliver(event)
    assert app.read(first.events[0])["error"]["code"] == "INSUFFICIENT_BALANCE"
    wallet.fund(app, 100)  # now it could pay: a re-delivery must not
    again = wallet.deliver(event)
    assert again.events[0]["id"] == first.events[0]["id"]
    assert wallet.call(app, "get_balance")["result"]["balance"] == 100_000
