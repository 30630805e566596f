"""The NWC admin methods (docs/nwc-admin-methods.md) through functions/local on a real wallet
folder and the real test mint: who may call them, what they check, budgets in the listing,
revocation with key rotation, exactly-once on re-delivery, and the key change the watcher
is told about (applied by the registry)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from functions.local.datadir import DataDir
from relay_watcher.db import WatcherDB
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.keyproof import verify_service_key_proof
from signer_core.protocol.uri import ConnectionUri
from signer_core.protocol.webhook import WebhookResponse, encode_response, parse_response
from signer_core.state import Connection, WalletState
from signer_core.vault import keys, sealed
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = pytest.mark.mint
ADMIN_METHODS = ("create_connection", "list_connections", "revoke_connection")


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


@pytest.fixture
def admin(wallet: LocalWallet) -> App:
    return wallet.add_app("--admin", name="home")


def blob(wallet: LocalWallet) -> bytes:
    return (wallet.path / "state" / "wallet.sealed").read_bytes()


def new_client() -> bytes:
    secret = generate_private_key()
    remember_secret(secret)
    return secret


def app_for(service_pubkey: str, secret: bytes) -> App:
    """The app a page builds from create_connection's answer and its own secret."""
    return App.from_uri(str(ConnectionUri(service_pubkey, ["ws://127.0.0.1:1"], secret.hex())))


def create_params(secret: bytes, **over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "pubkey": xonly_pubkey(secret).hex(),
        "name": "shop",
        "request_methods": ["get_balance", "pay_invoice", "get_info"],
        "notification_types": ["payment_received"],
        "max_amount": 30_000,
        "budget_renewal": "daily",
    }
    params.update(over)
    return params


def deliver(
    wallet: LocalWallet, app: App, event: dict[str, Any]
) -> tuple[dict[str, Any], WebhookResponse]:
    """Deliver one request through the local function; (decrypted reply, the answer as the
    watcher reads it off the wire)."""
    response = wallet.deliver(event)  # type: ignore[arg-type]
    assert response.status == 200, response.message
    status, headers, body = encode_response(response)
    wire = parse_response(status, headers, body)
    service = app.uri.service_pubkey
    replies = [e for e in wire.events if e["kind"] == 23195 and e["pubkey"] == service]
    assert len(replies) == 1, wire.events
    return app.read(replies[0]), wire


def wallet_pubkey(wallet: LocalWallet) -> str:
    folder = DataDir(wallet.path)
    return xonly_pubkey(keys.registration_secret(folder.secrets().root_secret,
                                                 folder.config().wallet_id)).hex()  # fmt: skip


def test_only_an_admin_connection_may_call_them(wallet: LocalWallet, admin: App) -> None:
    plain = wallet.add_app(name="plain")
    before = blob(wallet)
    for method in ADMIN_METHODS:
        out = wallet.call(plain, method, create_params(new_client()))
        assert out["error"]["code"] == "RESTRICTED", out
    assert blob(wallet) == before, "a refused admin request must write nothing"
    info = wallet.call(plain, "get_info")["result"]
    assert not set(ADMIN_METHODS) & set(info["methods"])
    assert set(ADMIN_METHODS) <= set(wallet.call(admin, "get_info")["result"]["methods"])


def test_create_connection_answers_alby_shape_and_the_new_key_works(
    wallet: LocalWallet, admin: App
) -> None:
    secret = new_client()
    event = admin.request("create_connection", create_params(secret))
    out, wire = deliver(wallet, admin, dict(event))
    assert out["error"] is None, out
    service = out["result"]["wallet_pubkey"]
    # the watcher is told the new key, with the service key's proof over this wallet
    assert wire.keys is not None and wire.keys["remove"] == []
    [added] = wire.keys["add"]
    assert added["pubkey"] == service
    assert verify_service_key_proof(service, added["proof"], wallet_pubkey(wallet))
    assert not verify_service_key_proof(service, added["proof"], "ab" * 32)
    # and its info event, so apps find the connection on the relay
    infos = [e for e in wire.events if e["kind"] == 13194 and e["pubkey"] == service]
    assert len(infos) == 1 and "pay_invoice" in infos[0]["content"]
    assert "create_connection" not in infos[0]["content"]

    shop = app_for(service, secret)
    info = wallet.call(shop, "get_info")["result"]
    assert info["pubkey"] == service
    assert set(info["methods"]) == {"get_balance", "pay_invoice", "get_info", "get_budget"}
    assert info["notifications"] == ["payment_received", "payment_sent"]
    assert wallet.call(shop, "get_balance")["result"] == {"balance": 0}
    assert wallet.call(shop, "make_invoice", {"amount": 1000})["error"]["code"] == "RESTRICTED"
    assert wallet.call(shop, "list_connections")["error"]["code"] == "RESTRICTED"
    budget = wallet.call(shop, "get_budget")["result"]
    assert budget["total_budget"] == 30_000 and budget["renewal_period"] == "daily"
    # the signer never saw the client's secret: only its public key is in the state
    assert secret.hex() not in str(_state(wallet).to_dict())


def _opened(wallet: LocalWallet) -> sealed.Opened:
    folder = DataDir(wallet.path)
    found = folder.store().read()
    assert found is not None
    root = folder.secrets().root_secret
    return sealed.open_with_admin(sealed.parse(found[0]), root_secret=root,
                                  expected_wallet_id=folder.config().wallet_id,
                                  min_generation=0)  # fmt: skip


def _state(wallet: LocalWallet) -> WalletState:
    return WalletState.from_dict(_opened(wallet).state)


@pytest.mark.parametrize(
    "override, code, words",
    [
        ({"pubkey": "zz" * 32}, "OTHER", "pubkey"),
        ({"pubkey": "00" * 32}, "OTHER", "not a valid x-only public key"),
        ({"name": ""}, "OTHER", "name"),
        ({"name": "a\nb"}, "OTHER", "printable"),
        ({"request_methods": []}, "OTHER", "request_methods"),
        ({"request_methods": ["get_balance", "create_connection"]}, "OTHER", "cannot manage"),
        ({"request_methods": ["pay_keysend"]}, "OTHER", "does not serve pay_keysend"),
        ({"notification_types": ["hold_invoice_accepted"]}, "OTHER", "does not send"),
        ({"budget_renewal": "hourly"}, "OTHER", "budget_renewal must be one of"),
        ({"max_amount": -1}, "OTHER", "max_amount"),
        ({"max_amount": "1000"}, "OTHER", "max_amount"),
        ({"expires_at": 1000}, "OTHER", "in the past"),
        ({"isolated": "yes"}, "OTHER", "isolated"),
    ],
)
def test_create_connection_refuses_bad_params_and_writes_nothing(
    wallet: LocalWallet, admin: App, override: dict[str, Any], code: str, words: str
) -> None:
    before = blob(wallet)
    out = wallet.call(admin, "create_connection", create_params(new_client(), **override))
    assert out["error"]["code"] == code, out
    assert words in out["error"]["message"]
    assert blob(wallet) == before
    assert len(_state(wallet).connections) == 1


def test_the_same_client_key_cannot_be_added_twice(wallet: LocalWallet, admin: App) -> None:
    secret = new_client()
    assert wallet.call(admin, "create_connection", create_params(secret))["error"] is None
    again = wallet.call(admin, "create_connection", create_params(secret, name="again"))
    assert again["error"]["code"] == "OTHER" and "already exists" in again["error"]["message"]
    admin_key = admin.uri.secret
    taken = wallet.call(admin, "create_connection",
                        create_params(bytes.fromhex(admin_key), name="x"))  # fmt: skip
    assert taken["error"]["code"] == "OTHER"


def test_a_redelivered_create_makes_one_connection_and_repeats_the_key(
    wallet: LocalWallet, admin: App
) -> None:
    event = dict(admin.request("create_connection", create_params(new_client())))
    first, wire1 = deliver(wallet, admin, event)
    second, wire2 = deliver(wallet, admin, event)
    assert first == second
    assert len(_state(wallet).connections) == 2
    # the first answer may have been lost: the duplicate tells the watcher again
    assert wire1.keys is not None and wire2.keys is not None
    [one], [two] = wire1.keys["add"], wire2.keys["add"]
    assert one["pubkey"] == two["pubkey"] == first["result"]["wallet_pubkey"]
    assert verify_service_key_proof(two["pubkey"], two["proof"], wallet_pubkey(wallet))


def test_list_connections_shows_budget_used_and_writes_nothing(
    wallet: LocalWallet, admin: App, tmp_path: Path, mint_url: str
) -> None:
    wallet.fund(admin, 100)
    secret = new_client()
    made = wallet.call(admin, "create_connection", create_params(secret, max_amount=50_000))
    shop = app_for(made["result"]["wallet_pubkey"], secret)
    other = LocalWallet.create(tmp_path / "other", mint_url)
    paid = wallet.call(shop, "pay_invoice", {"invoice": other.invoice(other.add_app(), 20)})
    assert paid["error"] is None, paid
    before = blob(wallet)
    listed = wallet.call(admin, "list_connections")["result"]["connections"]
    assert blob(wallet) == before, "listing is read-only"
    # oldest first: made in the same second, the two are ordered by name ("home" < "shop")
    assert [c["name"] for c in listed] == ["home", "shop"]
    home, item = listed
    assert home["admin"] is True and "max_amount" not in home
    assert item["admin"] is False and item["wallet_pubkey"] == shop.uri.service_pubkey
    assert item["max_amount"] == 50_000 and item["budget_renewal"] == "daily"
    assert item["used_budget"] == 20_000 + paid["result"]["fees_paid"]
    assert item["renews_at"] > item["created_at"]
    assert item["request_methods"] == ["get_balance", "pay_invoice", "get_info"]
    assert item["notification_types"] == ["payment_received", "payment_sent"]
    assert item["last_used_at"] is not None and item["expired"] is False
    over = wallet.call(shop, "pay_invoice", {"invoice": other.invoice(other.add_app(), 40)})
    assert over["error"]["code"] == "QUOTA_EXCEEDED"


def test_revoke_connection_rotates_the_key_and_locks_the_app_out(
    wallet: LocalWallet, admin: App
) -> None:
    secret = new_client()
    made = wallet.call(admin, "create_connection", create_params(secret))
    service = made["result"]["wallet_pubkey"]
    shop = app_for(service, secret)
    assert wallet.call(shop, "get_balance")["error"] is None
    dek_before = _dek(wallet)
    event = dict(admin.request("revoke_connection", {"wallet_pubkey": service}))
    out, wire = deliver(wallet, admin, event)
    assert out["result"] == {"revoked": True, "id": made["result"]["id"], "wallet_pubkey": service}
    assert wire.keys == {"add": [], "remove": [service]}
    assert service not in sealed.parse(blob(wallet)).wraps
    assert _dek(wallet) != dek_before, "revoking must rotate the data key"
    assert wallet.deliver(shop.request("get_balance")).status == 404
    # a re-delivered revoke gets the same answer and tells the watcher again
    again, wire2 = deliver(wallet, admin, event)
    assert again == out and wire2.keys == wire.keys
    # the admin connection goes on working under the new data key
    assert wallet.call(admin, "get_balance")["error"] is None
    gone = wallet.call(admin, "revoke_connection", {"wallet_pubkey": service})
    assert gone["error"]["code"] == "NOT_FOUND"


def _dek(wallet: LocalWallet) -> bytes:
    dek = _opened(wallet).dek
    remember_secret(dek)
    return dek


def test_admin_connections_are_not_revoked_over_nwc(wallet: LocalWallet, admin: App) -> None:
    other_admin = wallet.add_app("--admin", name="laptop")
    for target in (admin, other_admin):
        out = wallet.call(admin, "revoke_connection", {"wallet_pubkey": target.uri.service_pubkey})
        assert out["error"]["code"] == "RESTRICTED", out
    assert len(_state(wallet).connections) == 2
    missing = wallet.call(admin, "revoke_connection", {})
    assert missing["error"]["code"] == "OTHER"


def test_a_state_written_before_the_admin_flag_still_loads() -> None:
    raw = {"id": "c1", "name": "old", "client_pubkey": "ab" * 32, "service_pubkey": "cd" * 32,
           "methods": ["get_balance"], "created_at": 1, "budget": None}  # fmt: skip
    assert Connection.from_dict(raw).admin is False


def test_the_watcher_registry_applies_key_changes_for_its_own_wallet_only(tmp_path: Path) -> None:
    db = WatcherDB(tmp_path / "w.sqlite")
    mine, theirs = "aa" * 32, "bb" * 32
    db.registry.register(mine, "https://f.example", ["wss://r"], ["01" * 32], 1, "s1", 1)
    db.registry.register(theirs, "https://g.example", ["wss://r"], ["02" * 32], 1, "s2", 1)
    assert db.registry.update_keys(mine, ["03" * 32, "02" * 32], ["02" * 32])
    owners = {k: w for k, w, _ in db.registry.service_keys()}
    assert owners == {"01" * 32: mine, "02" * 32: theirs, "03" * 32: mine}
    assert db.registry.update_keys(mine, [], ["03" * 32])
    assert not db.registry.update_keys(mine, [], ["03" * 32])
    assert not db.registry.update_keys("cc" * 32, ["04" * 32], [])  # not registered
    db.close()


def test_parse_response_keeps_only_well_formed_key_changes() -> None:
    good = {"pubkey": "ab" * 32, "proof": "cd" * 64}
    raw = {"events": [], "keys": {"add": [good, {"pubkey": "AB" * 32, "proof": "cd" * 64},
                                          {"pubkey": "ab" * 32}, "x"],
                                  "remove": ["ef" * 32, "e" * 63, 5]}}  # fmt: skip
    import json

    wire = parse_response(200, {}, json.dumps(raw).encode())
    assert wire.keys == {"add": [good], "remove": ["ef" * 32]}
    assert parse_response(200, {}, b'{"events": [], "keys": {"add": 1}}').keys is None
    digest = hashlib.sha256(os.urandom(8)).hexdigest()
    assert parse_response(200, {}, b'{"keys": "' + digest.encode() + b'"}').keys is None


def test_the_cli_adds_an_admin_connection_and_lists_it_as_such(wallet: LocalWallet) -> None:
    from nwc_signer.dev.harness import run_cli

    code, out, _ = run_cli("connection", "add", "--data-dir", str(wallet.path), "--name", "home",
                           "--admin", "--no-qr")  # fmt: skip
    assert code == 0
    remember_secret(out.split("secret=")[1].split("&")[0].strip())
    admin = App.from_uri(out.strip().splitlines()[0])
    assert "list_connections" in wallet.call(admin, "get_info")["result"]["methods"]
    code, listed, _ = run_cli("connection", "list", "--data-dir", str(wallet.path))
    assert code == 0 and "home  ADMIN" in listed
