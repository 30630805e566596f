"""`nwc-signer connection approve` on a local wallet folder and the real test mint: what it
shows, what it creates (with create_connection's own checks), what it hands back to the app,
and that a bad or refused request creates nothing."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from nwc_signer.dev.harness import run_cli
from nwc_signer.wallet import open_admin
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.uri import parse_uri
from tests.nwc import LocalWallet, remember_secret

pytestmark = pytest.mark.mint
RELAY = "ws://127.0.0.1:1"  # LocalWallet's relay: nothing listens, so nothing is published


@pytest.fixture
def wallet(tmp_path: Path, mint_url: str) -> LocalWallet:
    return LocalWallet.create(tmp_path / "w", mint_url)


def blob(wallet: LocalWallet) -> bytes:
    return (wallet.path / "state" / "wallet.sealed").read_bytes()


def walletauth(pubkey: str, relay: str = RELAY, **params: str) -> str:
    query = {"relay": relay, "request_methods": "get_balance pay_invoice", **params}
    return f"nostr+walletauth://{pubkey}?" + "&".join(
        f"{k}={quote(v, safe='')}" for k, v in query.items()
    )


def app_key() -> str:
    secret = generate_private_key()
    remember_secret(secret)
    return xonly_pubkey(secret).hex()


def approve(wallet: LocalWallet, uri: str, *extra: str) -> tuple[int, str, str]:
    return run_cli("connection", "approve", uri, "--data-dir", str(wallet.path), *extra)


def test_walletauth_creates_the_apps_connection(wallet: LocalWallet) -> None:
    pubkey = app_key()
    expires = int(time.time()) + 86_400
    uri = walletauth(pubkey, name="Shop", max_amount="21000", budget_renewal="weekly",
                     expires_at=str(expires), notification_types="payment_received",
                     return_to="https://shop.example/back")  # fmt: skip
    code, out, err = approve(wallet, uri, "--yes")
    assert code == 0, err
    assert "'Shop'" in out and "read your balance; send payments" in out
    assert "at most 21 sats per week" in out and "Expires: " in out
    conn = next(c for c in open_admin(wallet.path).state.connections.values() if c.name == "Shop")
    assert conn.client_pubkey == pubkey and not conn.admin
    assert conn.methods == ["get_balance", "pay_invoice", "notifications"]
    assert conn.budget is not None
    assert (conn.budget.max_msat, conn.budget.renewal) == (21_000, "weekly")
    assert conn.expires_at == expires
    back = next(line for line in out.splitlines() if line.startswith("return to the app: "))
    query = parse_qs(urlsplit(back.split(": ", 1)[1]).query)
    assert query == {"relay": [RELAY], "pubkey": [conn.service_pubkey]}
    assert "no relay" in out  # nothing listens on RELAY: said, not hidden


def test_nwc07_link_hands_the_uri_to_the_callback(wallet: LocalWallet) -> None:
    link = "nostrnwc://connect?appname=Damus&callback=" + quote("damus://nwc", safe="")
    code, out, err = approve(wallet, link, "--yes", "--budget-sats", "500")
    assert code == 0, err
    back = next(line for line in out.splitlines() if line.startswith("return to the app: "))
    url = back.split(": ", 1)[1]
    assert url.startswith("damus://nwc?value=")
    made = parse_uri(parse_qs(urlsplit(url).query)["value"][0])
    remember_secret(made.secret)
    assert made.relays == [RELAY]
    conn = next(c for c in open_admin(wallet.path).state.connections.values() if c.name == "Damus")
    assert conn.service_pubkey == made.service_pubkey
    assert conn.client_pubkey == xonly_pubkey(bytes.fromhex(made.secret)).hex()
    assert conn.budget is not None and conn.budget.max_msat == 500_000
    assert "pay_invoice" in conn.methods and "notifications" in conn.methods


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("nostr+walletauth://abc?relay=wss%3A%2F%2Fr.example&request_methods=get_info",
         "bad_pubkey"),
        (walletauth("f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
                    request_methods="get_balance steal_funds"), "unknown methods: steal_funds"),
        ("nostrnwc://connect?callback=javascript%3Aalert(1)", "bad_return_to"),
    ],
)  # fmt: skip
def test_bad_requests_say_why_and_create_nothing(wallet: LocalWallet, uri: str, says: str) -> None:
    before = blob(wallet)
    code, out, err = approve(wallet, uri, "--yes")
    assert code == 2 and says in err and "Traceback" not in err + out
    assert blob(wallet) == before


def test_what_the_wallet_cannot_serve_is_refused_by_create_connection(wallet: LocalWallet) -> None:
    before = blob(wallet)
    code, _, err = approve(wallet, walletauth(app_key(), request_methods="pay_keysend"), "--yes")
    assert code == 2 and "does not serve pay_keysend" in err
    assert blob(wallet) == before


def test_relays_the_wallet_does_not_use_are_refused(wallet: LocalWallet) -> None:
    before = blob(wallet)
    code, _, err = approve(wallet, walletauth(app_key(), relay="wss://elsewhere.example"), "--yes")
    assert code == 2 and "wss://elsewhere.example" in err and "nothing was created" in err
    assert blob(wallet) == before


def test_without_yes_and_no_terminal_nothing_is_created(wallet: LocalWallet) -> None:
    before = blob(wallet)
    code, out, err = approve(wallet, walletauth(app_key()))
    assert code == 2 and "--yes" in err
    assert "asks to connect" in out  # shown before asking
    assert blob(wallet) == before


def test_one_target_must_be_named(wallet: LocalWallet) -> None:
    code, _, err = run_cli("connection", "approve", walletauth(app_key()), "--yes")
    assert code == 2 and "--data-dir" in err and "--admin-uri" in err
