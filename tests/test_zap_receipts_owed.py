"""A zap receipt is owed until a 200 answer carrying it is committed: the delivery whose sync
saw the zap invoice paid may end non-2xx afterwards (here a `pay_invoice` answered 409, its
mint answer lost), and its receipt must then come with the next 200 answer, a wake-up's or
a request's — once. Through functions/local on a real wallet folder and the real nutshell
mint (the test mint pays a quote when it is first checked)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from signer_core.protocol import zaps
from signer_core.protocol.events import Event, tag_value, verify_event
from signer_core.state import WalletState
from signer_core.wallets.base import Transaction
from tests import faults
from tests.nwc import App, LocalWallet
from tests.test_lightning_address_function import ask, receipts, zap_pubkey, zap_request

pytestmark = pytest.mark.mint


@pytest.fixture
def funded(tmp_path: Path, mint_url: str) -> tuple[LocalWallet, App, LocalWallet, App]:
    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    app = wallet.add_app(name="payer")
    wallet.fund(app, 100)
    payee = LocalWallet.create(tmp_path / "payee", mint_url)
    return wallet, app, payee, payee.add_app(name="payee")


@pytest.fixture
def lossy_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import signer_core.wallets

    faults.LoseMeltAnswer.armed = True
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", "tests.faults:lossy_cashu")


def version(wallet: LocalWallet) -> str:
    from functions.local.datadir import DataDir

    found = DataDir(wallet.path).store().read()
    assert found is not None
    return found[1]


def zap_then_409(
    funded: tuple[LocalWallet, App, LocalWallet, App],
) -> tuple[LocalWallet, App, dict[str, Any], str, Event]:
    """A zap invoice, then a pay_invoice whose sync sees it paid and which ends 409."""
    wallet, app, payee, payee_app = funded
    request = zap_request(4000)
    made = ask(wallet, 4000, zap_request=request)
    assert made.invoice is not None
    pay = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 10)})
    first = wallet.deliver(pay)
    assert first.status == 409, first.message  # the mint's answer to the melt was lost
    assert receipts(first) == []  # a non-2xx answer carries nothing
    return wallet, app, request, made.invoice["pr"], pay


def check_receipt(
    wallet: LocalWallet, found: dict[str, Any], request: dict[str, Any], pr: str
) -> None:
    receipt = dict(verify_event(found))
    assert receipt["pubkey"] == zap_pubkey(wallet)
    assert tag_value(receipt, "bolt11") == pr
    assert tag_value(receipt, "P") == request["pubkey"]


def test_a_receipt_lost_to_a_409_comes_with_the_next_wake(
    funded: tuple[LocalWallet, App, LocalWallet, App], lossy_network: None
) -> None:
    wallet, app, request, pr, pay = zap_then_409(funded)
    woke = wallet.wake()
    assert woke.status == 200, woke.message
    (found,) = receipts(woke)
    check_receipt(wallet, found, request, pr)
    assert any(e["kind"] == 23195 for e in woke.events)  # the payment finished there too
    # sent and committed: never again, and a read with nothing owed writes nothing
    assert receipts(wallet.wake()) == []
    before = version(wallet)
    answered = wallet.deliver(app.request("get_balance"))
    assert answered.status == 200 and receipts(answered) == []
    assert version(wallet) == before
    assert receipts(wallet.deliver(pay, attempt=2)) == []


def test_a_receipt_lost_to_a_409_comes_with_the_next_request(
    funded: tuple[LocalWallet, App, LocalWallet, App], lossy_network: None
) -> None:
    wallet, app, request, pr, pay = zap_then_409(funded)
    again = wallet.deliver(pay, attempt=2)  # the watcher re-delivers the request
    assert again.status == 200, again.message
    (found,) = receipts(again)
    check_receipt(wallet, found, request, pr)
    assert receipts(wallet.wake()) == []


def _zap_tx(payment_hash: str, settled_at: int | None) -> Transaction:
    record = {"address": "zed@w.test", "zap_request": zap_request(1000)}
    return Transaction(
        type="incoming", state="settled", invoice="lnbcrt10n1test", payment_hash=payment_hash,
        amount=1000, settled_at=settled_at, metadata={"lightning_address": record},
    )  # fmt: skip


def _state() -> WalletState:
    return WalletState(wallet_id="w1", created_at=0, backend="cashu", mnemonic="", seed_hex="")


def test_owed_receipts_are_deterministic_bounded_and_taken_once() -> None:
    from signer_core.zap_receipts import OWED_MAX_AGE_S, owe_receipts, take_receipts

    root = os.urandom(32)
    state = _state()
    owe_receipts(state, [_zap_tx("aa" * 32, 1_700_000_000)], now=1_700_000_050)
    owe_receipts(state, [_zap_tx("aa" * 32, None)], now=1_700_000_099)  # a re-run: kept once
    assert list(state.zap_receipts_owed) == ["aa" * 32]
    plain = Transaction(type="incoming", state="settled", invoice="x", payment_hash="bb" * 32,
                        amount=1000)  # fmt: skip
    owe_receipts(state, [plain], now=1_700_000_100)  # not a zap: nothing owed
    assert list(state.zap_receipts_owed) == ["aa" * 32]
    copy = WalletState.from_dict(state.to_dict())  # survives the sealed state's JSON
    first = take_receipts(state, root, "w1", now=1_700_000_200)
    second = take_receipts(copy, root, "w1", now=1_700_000_300)
    assert [e["id"] for e in first] == [e["id"] for e in second]  # same receipt, same id
    assert first[0]["created_at"] == 1_700_000_000  # the settlement time
    assert state.zap_receipts_owed == {} and take_receipts(state, root, "w1", now=1) == []
    # too old to be worth sending: dropped unsent, so the list cannot grow
    owe_receipts(state, [_zap_tx("cc" * 32, None)], now=1_000)
    assert take_receipts(state, root, "w1", now=1_000 + OWED_MAX_AGE_S + 1) == []
    assert state.zap_receipts_owed == {}
    zaps.zap_secret(root, "w1")  # the key the receipts were signed with exists for this id
