"""The info event (13194) and get_info advertise exactly what each connection may use:
methods, notifications, encryption, NWC extensions, and the client's key as a `p` tag;
create_connection publishes the new connection's; methods nobody serves say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.methods import available_extensions
from signer_core.protocol.events import Event, verify_event
from signer_core.state import Connection
from signer_core.wallets.base import LIGHTNING_METHODS, PAYMENT_NOTIFICATIONS
from signer_core.wallets.cashu.wallet import CashuWallet
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = pytest.mark.mint


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


def info_of(events: list[Event], app: App) -> Event:
    [info] = [e for e in events if e["kind"] == 13194 and e["pubkey"] == app.uri.service_pubkey]
    assert verify_event(info)
    return info


def tags(event: Event) -> dict[str, str]:
    return {t[0]: t[1] for t in event["tags"]}


def test_a_full_cashu_connection_advertises_02_05_06_321(wallet: LocalWallet) -> None:
    app = wallet.add_app(name="full")
    info = info_of(wallet.wake().events, app)
    assert tags(info) == {
        "encryption": "nip44_v2 nip04",
        "notifications": "payment_received payment_sent",
        "extensions": "02 05 06 321",
        "p": app.pubkey,
    }
    assert {"pay", "receive", "pay_invoice", "notifications"} <= set(info["content"].split())
    got = wallet.call(app, "get_info")["result"]
    assert got["encryption"] == ["nip44_v2", "nip04"]
    assert got["extensions"] == ["02", "05", "06", "321"]
    assert got["methods"] == info["content"].split()[:-1]  # all but "notifications"


@pytest.mark.parametrize(
    "methods, extensions",
    [
        (["pay_invoice", "get_balance"], []),
        (["list_transactions", "notifications"], ["02", "05"]),
        (["make_invoice"], ["06"]),
        (["receive"], ["321"]),
    ],
)
def test_a_narrow_connection_advertises_only_what_it_may_use(
    wallet: LocalWallet, methods: list[str], extensions: list[str]
) -> None:
    app = wallet.add_app("--methods", *methods, name="narrow")
    info = info_of(wallet.wake().events, app)
    assert tags(info).get("extensions", "").split() == extensions
    assert ("notifications" in tags(info)) == ("notifications" in methods)
    assert tags(info)["p"] == app.pubkey and tags(info)["encryption"] == "nip44_v2 nip04"
    assert wallet.call(app, "get_info")["result"]["extensions"] == extensions


def test_create_connection_publishes_the_new_connections_info(wallet: LocalWallet) -> None:
    admin = wallet.add_app("--admin", name="home")
    secret = generate_private_key()
    remember_secret(secret)
    client = xonly_pubkey(secret).hex()
    params: dict[str, Any] = {
        "pubkey": client,
        "name": "shop",
        "request_methods": ["get_info", "pay", "list_transactions"],
        "notification_types": ["payment_sent"],
    }
    response = wallet.deliver(admin.request("create_connection", params))
    reply = admin.read([e for e in response.events if e["kind"] == 23195][0])
    assert reply["error"] is None, reply
    service = reply["result"]["wallet_pubkey"]
    [info] = [e for e in response.events if e["kind"] == 13194 and e["pubkey"] == service]
    assert tags(info)["p"] == client  # the app finds its wallet-service key with #p
    assert tags(info)["extensions"] == "02 05 321"
    # the admin's own info carries its own key, never the new client's
    assert all(t != ["p", client] for e in response.events if e["pubkey"] != service
               for t in e["tags"])  # fmt: skip


@pytest.mark.parametrize(
    "method, words",
    [
        ("pay_keysend", "neither Cashu mints nor Spark can send a keysend"),
        ("multi_pay_invoice", "removed from NIP-47"),
        ("multi_pay_keysend", "removed from NIP-47"),
    ],
)
def test_methods_never_served_say_why(wallet: LocalWallet, method: str, words: str) -> None:
    app = wallet.add_app(name="app")
    out = wallet.call(app, method, {"amount": 1000, "pubkey": "02" * 33})
    assert out["error"]["code"] == "NOT_IMPLEMENTED", out
    assert words in out["error"]["message"]


def _connection(methods: list[str]) -> Connection:
    return Connection(
        id="c", name="n", client_pubkey="ab" * 32, service_pubkey="cd" * 32,
        methods=methods, created_at=0,
    )  # fmt: skip


def test_available_extensions_follow_the_backend() -> None:
    everything = ["make_hold_invoice", "settle_hold_invoice", "list_transactions",
                  "notifications", "pay", "make_invoice"]  # fmt: skip
    conn = _connection(everything)
    served = LIGHTNING_METHODS | {"make_hold_invoice", "settle_hold_invoice"}
    # hold invoices (03) where make and settle are served; 321 only where pay/receive are
    assert available_extensions(conn, served, PAYMENT_NOTIFICATIONS) == ["02", "03", "05"]
    assert available_extensions(conn, CashuWallet.methods, frozenset(), metadata=True) == [
        "05",
        "06",
        "321",
    ]
    assert available_extensions(_connection(["get_balance"]), CashuWallet.methods,
                                PAYMENT_NOTIFICATIONS, metadata=True) == []  # fmt: skip
