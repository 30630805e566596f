"""Isolated connections (docs/isolated-connections.md) through functions/local on a real wallet
folder and the real test mint: two sub-wallets and a main connection, funded from the main
balance, paying, receiving, refused over their balance; the main balance never spends theirs;
duplicates and concurrent payments never spend twice; revoking returns the balance to main."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from functions.local.datadir import DataDir
from nwc_signer.wallet import open_admin
from signer_core import isolation, methods
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.methods import MethodContext
from signer_core.policy import balance_before_prepare, check_spend, record_settled
from signer_core.protocol.bolt11 import decode
from signer_core.protocol.errors import NwcError
from signer_core.protocol.uri import ConnectionUri
from signer_core.state import Connection, LedgerEntry, WalletState
from signer_core.vault import sealed
from signer_core.wallets import open_wallet
from signer_core.wallets.base import WalletEnv
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = pytest.mark.mint
SUB_METHODS = ["get_balance", "pay_invoice", "make_invoice", "lookup_invoice", "list_transactions"]
REGISTERED = "transfer_funds" in methods.ADMIN_METHODS
needs_method = pytest.mark.skipif(
    not REGISTERED, reason="transfer_funds is not yet listed in signer_core/methods/__init__.py"
)


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


@pytest.fixture
def admin(wallet: LocalWallet) -> App:
    return wallet.add_app("--admin", name="home")


@pytest.fixture
def payee(tmp_path: Path, mint_url: str) -> tuple[LocalWallet, App]:
    other = LocalWallet.create(tmp_path / "payee", mint_url)
    return other, other.add_app(name="till")


def isolated(wallet: LocalWallet, admin: App, name: str) -> tuple[App, str]:
    """A sub-wallet made over NWC as the home page makes it; (its app, its id)."""
    secret = generate_private_key()
    remember_secret(secret)
    params = {"pubkey": xonly_pubkey(secret).hex(), "name": name, "isolated": True,
              "request_methods": SUB_METHODS,
              "notification_types": ["payment_received"]}  # fmt: skip
    out = wallet.call(admin, "create_connection", params)
    assert out["error"] is None, out
    uri = ConnectionUri(out["result"]["wallet_pubkey"], ["ws://127.0.0.1:1"], secret.hex())
    return App.from_uri(str(uri)), out["result"]["id"]


def state_of(wallet: LocalWallet) -> WalletState:
    folder = DataDir(wallet.path)
    found = folder.store().read()
    assert found is not None
    root = folder.secrets().root_secret
    opened = sealed.open_with_admin(sealed.parse(found[0]), root_secret=root,
                                    expected_wallet_id=folder.config().wallet_id,
                                    min_generation=0)  # fmt: skip
    return WalletState.from_dict(opened.state)


def transfer(
    wallet: LocalWallet, admin: App, sats: int, *, to: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """transfer_funds over NWC once it is registered; until then the same state operation
    applied and committed the way the CLI administers a wallet folder."""
    params: dict[str, Any] = {"amount": sats * 1000}
    if to:
        params["to"] = to
    if source:
        params["from"] = source
    if REGISTERED:
        return wallet.call(admin, "transfer_funds", params)
    session = open_admin(wallet.path)
    state = session.state
    backend = open_wallet(state.backend, state.backend_data,
                          WalletEnv(seed=bytes.fromhex(state.seed_hex), now=0))  # fmt: skip
    try:
        isolation.transfer(state, source=source or "", target=to or "",
                           amount_msat=sats * 1000, backend_msat=backend.get_balance_msat(),
                           request_id="t", now=1)  # fmt: skip
    except NwcError as exc:
        return {"error": {"code": exc.code.value, "message": exc.message}}
    session.commit()
    return {"error": None}


def balance(wallet: LocalWallet, app: App) -> int:
    out = wallet.call(app, "get_balance")
    assert out["error"] is None, out
    return int(out["result"]["balance"])


def hashes(wallet: LocalWallet, app: App) -> list[str]:
    out = wallet.call(app, "list_transactions", {"unpaid": True})
    assert out["error"] is None, out
    return [tx["payment_hash"] for tx in out["result"]["transactions"]]


def test_sub_wallets_spend_and_receive_only_their_own(
    wallet: LocalWallet, admin: App, payee: tuple[LocalWallet, App]
) -> None:
    other, till = payee
    wallet.fund(admin, 1000)
    a, a_id = isolated(wallet, admin, "kid")
    b, b_id = isolated(wallet, admin, "shop")
    main = wallet.add_app(name="main")
    assert balance(wallet, a) == 0
    assert transfer(wallet, admin, 300, to=a_id)["error"] is None
    assert transfer(wallet, admin, 200, to=b_id)["error"] is None
    assert (balance(wallet, a), balance(wallet, b)) == (300_000, 200_000)
    assert balance(wallet, main) == balance(wallet, admin) == 500_000

    # a pays: the payment and its fee come out of a's balance only
    bill = other.invoice(till, 100)
    paid = wallet.call(a, "pay_invoice", {"invoice": bill})
    assert paid["error"] is None, paid
    fee = paid["result"]["fees_paid"]
    assert balance(wallet, a) == 200_000 - fee
    assert balance(wallet, b) == 200_000
    assert balance(wallet, main) == 500_000

    # over its balance: refused, nothing reserved, nothing paid
    over = wallet.call(a, "pay_invoice", {"invoice": other.invoice(till, 250)})
    assert over["error"]["code"] == "INSUFFICIENT_BALANCE", over
    assert balance(wallet, a) == 200_000 - fee
    assert not any(e.status == "claimed" for e in state_of(wallet).ledger.values())

    # b receives: credited to b when the wake-up settles it, notified to b only
    other.fund(till, 100)
    made = wallet.call(b, "make_invoice", {"amount": 50_000})
    assert made["error"] is None, made
    incoming = made["result"]["payment_hash"]
    assert other.call(till, "pay_invoice", {"invoice": made["result"]["invoice"]})["error"] is None
    woke = wallet.wake()
    assert woke.status == 200
    told = {e["pubkey"] for e in woke.events if e["kind"] in (23196, 23197)}
    assert told == {b.uri.service_pubkey}, "the receipt is notified to its sub-wallet only"
    assert balance(wallet, b) == 250_000
    assert balance(wallet, b) == 250_000, "a receipt is credited once"
    assert balance(wallet, main) == 500_000

    # each sees its own transactions; the main connections none of theirs
    assert hashes(wallet, b) == [incoming]
    outgoing = decode(bill).payment_hash
    assert hashes(wallet, a) == [outgoing]
    main_list = hashes(wallet, main)
    assert incoming not in main_list and outgoing not in main_list and main_list
    assert hashes(wallet, admin) == main_list
    found = wallet.call(b, "lookup_invoice", {"payment_hash": incoming})
    assert found["error"] is None and found["result"]["state"] == "settled"
    for stranger in (a, main):
        assert (
            wallet.call(stranger, "lookup_invoice", {"payment_hash": incoming})["error"]["code"]
            == "NOT_FOUND"
        )

    listed = {c["id"]: c for c in wallet.call(admin, "list_connections")["result"]["connections"]}
    assert listed[a_id]["isolated"] is True and listed[a_id]["balance"] == 200_000 - fee
    assert listed[b_id]["balance"] == 250_000
    assert all(not c["isolated"] and "balance" not in c for k, c in listed.items()
               if k not in (a_id, b_id))  # fmt: skip


def test_the_main_balance_cannot_spend_isolated_funds(
    wallet: LocalWallet, admin: App, payee: tuple[LocalWallet, App]
) -> None:
    other, till = payee
    wallet.fund(admin, 600)
    a, a_id = isolated(wallet, admin, "kid")
    main = wallet.add_app(name="main")
    transfer(wallet, admin, 400, to=a_id)
    assert balance(wallet, main) == 200_000
    out = wallet.call(main, "pay_invoice", {"invoice": other.invoice(till, 300)})
    assert out["error"]["code"] == "INSUFFICIENT_BALANCE", out
    assert "isolated" in out["error"]["message"]
    assert balance(wallet, a) == 400_000 and balance(wallet, main) == 200_000
    # within the main balance it pays, and the sub-wallet keeps all of its own
    ok = wallet.call(main, "pay_invoice", {"invoice": other.invoice(till, 150)})
    assert ok["error"] is None, ok
    assert balance(wallet, a) == 400_000
    spent = wallet.call(a, "pay_invoice", {"invoice": other.invoice(till, 390)})
    assert spent["error"] is None, spent


def test_transfers_are_refused_clearly_and_go_both_ways(wallet: LocalWallet, admin: App) -> None:
    wallet.fund(admin, 500)
    a, a_id = isolated(wallet, admin, "kid")
    main_conn = wallet.add_app(name="main")
    refused = transfer(wallet, admin, 501, to=a_id)
    assert refused["error"]["code"] == "INSUFFICIENT_BALANCE", refused
    assert transfer(wallet, admin, 1, source=a_id)["error"]["code"] == "INSUFFICIENT_BALANCE"
    transfer(wallet, admin, 300, to=a_id)
    transfer(wallet, admin, 100, source=a_id)  # back to the main balance
    assert balance(wallet, a) == 200_000 and balance(wallet, main_conn) == 300_000
    state = state_of(wallet)
    assert [(t.source, t.target, t.amount_msat) for t in state.transfers] == [
        ("", a_id, 300_000),
        (a_id, "", 100_000),
    ]


@needs_method
def test_transfer_funds_over_nwc_refuses_and_is_exactly_once(
    wallet: LocalWallet, admin: App
) -> None:
    wallet.fund(admin, 500)
    a, a_id = isolated(wallet, admin, "kid")
    main = wallet.add_app(name="main")
    main_id = next(c.id for c in state_of(wallet).connections.values() if c.name == "main")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amount": 501_000, "to": a_id}, "INSUFFICIENT_BALANCE"),
        ({"amount": 1_000, "to": "f" * 16}, "NOT_FOUND"),
        ({"amount": 1_000, "to": main_id}, "OTHER"),
        ({"amount": 1_000, "from": a_id}, "INSUFFICIENT_BALANCE"),
        ({"amount": 0, "to": a_id}, "OTHER"),
        ({"amount": 1_000}, "OTHER"),
    ]
    for params, code in cases:
        out = wallet.call(admin, "transfer_funds", params)
        assert out["error"]["code"] == code, (params, out)
    assert (
        wallet.call(main, "transfer_funds", {"amount": 1, "to": a_id})["error"]["code"]
        == "RESTRICTED"
    )
    event = dict(admin.request("transfer_funds", {"amount": 300_000, "to": a.uri.service_pubkey}))
    first, second = wallet.deliver(event), wallet.deliver(event)  # type: ignore[arg-type]
    assert first.status == second.status == 200
    assert [admin.read(e) for e in first.events if e["kind"] == 23195] == [
        admin.read(e) for e in second.events if e["kind"] == 23195
    ]
    assert balance(wallet, a) == 300_000 and balance(wallet, main) == 200_000
    assert len(state_of(wallet).transfers) == 1


def test_a_duplicate_or_concurrent_payment_never_spends_twice(
    wallet: LocalWallet, admin: App, external_invoice: Any
) -> None:
    wallet.fund(admin, 500)
    a, a_id = isolated(wallet, admin, "kid")
    transfer(wallet, admin, 300, to=a_id)
    event = dict(a.request("pay_invoice", {"invoice": external_invoice(100)}))
    replies: list[dict[str, Any]] = []
    for _ in range(2):  # the same request re-delivered: one payment, the same answer
        response = wallet.deliver(event)  # type: ignore[arg-type]
        assert response.status == 200
        replies.extend(a.read(e) for e in response.events if e["kind"] == 23195)
    assert replies[0] == replies[1] and replies[0]["error"] is None
    fee = replies[0]["result"]["fees_paid"]
    assert balance(wallet, a) == 200_000 - fee

    # two different payments at once, each within the balance, together over it
    events = [dict(a.request("pay_invoice", {"invoice": external_invoice(150)}))
              for _ in range(2)]  # fmt: skip
    answers: list[dict[str, Any]] = []

    def pay(ev: dict[str, Any]) -> None:
        while True:  # a 409 (lost compare-and-swap, payment in flight) is retried
            response = wallet.deliver(ev)  # type: ignore[arg-type]
            if response.status == 200:
                answers.extend(a.read(e) for e in response.events if e["kind"] == 23195)
                return
            assert response.status == 409, response.message

    threads = [threading.Thread(target=pay, args=(ev,)) for ev in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(str((r["error"] or {}).get("code")) for r in answers)
    assert codes == ["INSUFFICIENT_BALANCE", "None"], answers
    paid = next(r for r in answers if r["error"] is None)
    assert balance(wallet, a) == 200_000 - fee - 150_000 - paid["result"]["fees_paid"]
    assert balance(wallet, a) >= 0


def test_revoking_a_sub_wallet_returns_its_balance_to_main(wallet: LocalWallet, admin: App) -> None:
    wallet.fund(admin, 500)
    a, a_id = isolated(wallet, admin, "kid")
    main = wallet.add_app(name="main")
    transfer(wallet, admin, 300, to=a_id)
    assert balance(wallet, main) == 200_000
    out = wallet.call(admin, "revoke_connection", {"id": a_id})
    assert out["error"] is None, out
    assert balance(wallet, main) == 500_000
    assert a_id not in state_of(wallet).connections


def test_a_state_written_before_isolated_connections_opens_unchanged() -> None:
    raw = json.loads((Path(__file__).parent / "fixtures" / "wallet-state-before-isolated.json")
                     .read_text())  # fmt: skip
    assert "owned_txs" not in raw and "isolated" not in raw["connections"]["c1"]
    state = WalletState.from_dict(raw)
    assert [(c.isolated, c.balance_msat) for c in state.connections.values()] == [(False, 0)] * 2
    assert state.owned_txs == {} and state.transfers == []
    assert state.ledger["aa" * 32].payment is not None
    again = state.to_dict()
    # later fields, absent from this fixture too
    assert again["lightning_address"] is None and again["zap_receipts_owed"] == {}
    new_fields = ("owned_txs", "transfers", "lightning_address", "zap_receipts_owed")
    assert {k: v for k, v in again.items() if k not in new_fields} == {
        **raw,
        "connections": {
            cid: {**c, "isolated": False, "balance_msat": 0}
            for cid, c in raw["connections"].items()
        },  # fmt: skip
    }
    assert WalletState.from_dict(json.loads(json.dumps(again))) == state


def test_check_spend_over_a_real_cashu_wallet(
    json_wallet: Any, mint_url: str, external_invoice: Any
) -> None:
    """policy.check_spend on its own, after the backend's prepare as the payment path calls
    it: the main connection is held off isolated funds, the isolated one off the rest,
    payments in flight count, and an isolated payer is recorded as the payment's owner."""
    funded = json_wallet(mint_url)
    funded.fund(500)
    backend = funded.open()
    state = WalletState(wallet_id="w", created_at=0, backend="cashu", mnemonic="",
                        seed_hex=funded.seed.hex(), backend_data=backend.data)  # fmt: skip
    main = Connection("m", "main", "aa" * 32, "bb" * 32, ["pay_invoice"], 0)
    kid = Connection("k", "kid", "cc" * 32, "dd" * 32, ["pay_invoice"], 0, isolated=True,
                     balance_msat=300_000)  # fmt: skip
    state.connections = {"m": main, "k": kid}
    now = int(time.time())

    def attempt(conn: Connection, sats: int) -> str | None:
        ctx = MethodContext(state, conn, backend, "r", now, lambda: None)
        before = balance_before_prepare(ctx)  # as the payment path reads it
        assert (before is None) == conn.isolated
        prepared = backend.prepare_payment(invoice=external_invoice(sats), amount_msat=None,
                                           request_id="r")  # fmt: skip
        try:
            check_spend(ctx, prepared, before)
        except NwcError as exc:
            return exc.code.value
        finally:
            backend.cancel_payment(prepared)
        return None

    try:
        assert attempt(main, 250) == "INSUFFICIENT_BALANCE"  # 200 sat are the main's
        assert attempt(main, 150) is None
        assert attempt(kid, 350) == "INSUFFICIENT_BALANCE"
        assert attempt(kid, 250) is None
        assert {o.connection_id for o in state.owned_txs.values()} == {"k"}
        # a payment of the kid in flight holds 200 sat of its 300 (and of the wallet's 500)
        state.ledger["p"] = LedgerEntry("p", "k", "pay_invoice", "claimed", now, now,
                                        payment={"amount_msat": 199_000,
                                                 "fee_reserve_msat": 1_000})  # fmt: skip
        assert isolation.available_msat(state, kid) == 100_000
        assert attempt(kid, 150) == "INSUFFICIENT_BALANCE"
        # it settles with a 1 sat fee: the payer is charged, the claim is done
        record_settled(kid, 199_000, 1_000, now)
        del state.ledger["p"]
        assert kid.balance_msat == 100_000 and isolation.available_msat(state, kid) == 100_000
    finally:
        backend.client.close()
