"""The LNURL-pay client (signer_core/protocol/lnurl.py) against the loopback server, and
what it refuses to call; no mint needed except for the transport test at the end."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from signer_core.protocol import lnurl
from signer_core.protocol.errors import NwcError
from tests.lnurl_server import LnurlServer, Recording, encode_lnurl
from tests.spark_double import make_bolt11

LOOPBACK = lnurl.LnurlOptions(allow_loopback_http=True)


@pytest.fixture
def server() -> Iterator[LnurlServer]:
    served = LnurlServer(lambda msat: make_bolt11(msat)[0])
    yield served
    served.close()


def pay_request(server: LnurlServer, options: lnurl.LnurlOptions = LOOPBACK) -> lnurl.PayRequest:
    return lnurl.fetch_pay_request(lnurl.address_url(server.address, options), options)


def test_an_address_resolves_to_a_checked_invoice(server: LnurlServer) -> None:
    found = pay_request(server)
    assert (found.min_msat, found.max_msat, found.comment_allowed) == (1_000, 100_000_000, 50)
    assert found.callback.endswith("/callback/alice?k=1")
    invoice = lnurl.request_invoice(found, 7_000, LOOPBACK, "thanks")
    from signer_core.protocol.bolt11 import decode

    decoded = decode(invoice)
    assert decoded.amount_msat == 7_000
    assert decoded.description_hash == hashlib.sha256(server.metadata.encode()).hexdigest()


@pytest.mark.parametrize(
    "mode, words", [("huge", "more than 65536 bytes"), ("redirect", "HTTP 302")]
)
def test_oversized_and_redirected_answers_are_refused(
    server: LnurlServer, mode: str, words: str
) -> None:
    server.mode = mode
    with pytest.raises(NwcError) as err:
        pay_request(server)
    assert words in err.value.message and "nothing was paid" in err.value.message
    assert "/elsewhere" not in server.hits


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://example.com/lnurlp/x", True),
        ("http://example.com/lnurlp/x", False),
        ("http://127.0.0.1:1/x", False),  # loopback http only with the switch
        ("https://127.0.0.1/x", False),
        ("https://10.1.2.3/x", False),
        ("https://[::1]/x", False),
        ("https://169.254.169.254/latest", False),
        ("https://localhost/x", False),
        ("https://printer.local/x", False),
        ("https://user:pw@example.com/x", False),
        ("ftp://example.com/x", False),
    ],
)
def test_what_the_client_will_call(url: str, allowed: bool) -> None:
    if allowed:
        assert lnurl.check_url(url, lnurl.LnurlOptions()) == "example.com"
    else:
        with pytest.raises(NwcError):
            lnurl.check_url(url, lnurl.LnurlOptions())


def test_loopback_switch_allows_only_loopback_http() -> None:
    assert lnurl.check_url("http://127.0.0.1:9/x", LOOPBACK) == "127.0.0.1"
    with pytest.raises(NwcError):
        lnurl.check_url("http://10.0.0.1/x", LOOPBACK)
    assert (
        lnurl.address_url("a@example.com", LOOPBACK) == "https://example.com/.well-known/lnurlp/a"
    )


def test_lnurl_bech32_round_trip_and_bad_checksum() -> None:
    url = "https://example.com/.well-known/lnurlp/alice?x=1"
    encoded = encode_lnurl(url)
    assert lnurl.decode_lnurl(encoded) == url
    assert lnurl.decode_lnurl(encoded.upper()) == url
    broken = encoded[:-1] + ("q" if encoded[-1] != "q" else "p")
    with pytest.raises(NwcError) as err:
        lnurl.decode_lnurl(broken)
    assert err.value.code == "BAD_REQUEST"


def test_a_callback_elsewhere_must_be_https(server: LnurlServer) -> None:
    found = pay_request(server)
    elsewhere = lnurl.PayRequest("http://example.com/cb", 1, 10**9, found.metadata)
    with pytest.raises(NwcError) as err:
        lnurl.request_invoice(elsewhere, 5_000, LOOPBACK)
    assert "https" in err.value.message
    assert server.hits == ["/.well-known/lnurlp/alice"]


@pytest.mark.mint
def test_lnurl_calls_go_through_the_wallets_transport(
    tmp_path: Path, mint_url: str, server: LnurlServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes LNURL-pay work in Pyodide: with_js_fetch gives the Cashu wallet a fetch
    transport, and the LNURL client uses the wallet's transport, not httpx's sockets."""
    import signer_core.wallets
    from tests.nwc import LocalWallet
    from tests.test_nwc321_pay import allow_loopback

    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    allow_loopback(wallet)
    app = wallet.add_app(name="app")
    wallet.fund(app, 50)
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", "tests.lnurl_server:recording_cashu")
    Recording.urls = []
    out = wallet.call(app, "pay", {"payment": server.address, "amount": 3_000})
    assert out["error"] is None, out  # the test mint's fake backend pays any invoice
    lnurl_calls = [u for u in Recording.urls if f":{server.port}/" in u]
    assert len(lnurl_calls) == 2 and len(server.hits) == 2
