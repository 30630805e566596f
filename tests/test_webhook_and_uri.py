"""Webhook signing/parsing and connection URIs."""

from __future__ import annotations

import pytest

from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.uri import ConnectionUri, parse_uri
from signer_core.protocol.webhook import (
    BadDelivery,
    WebhookAuthError,
    parse_delivery,
    sign_delivery,
    verify_delivery,
)

SECRET = generate_private_key()
PUB = xonly_pubkey(SECRET).hex()


def test_signed_delivery_verifies() -> None:
    headers = sign_delivery(b"{}", SECRET, 1000)
    verify_delivery(headers, b"{}", PUB, 1000)
    verify_delivery({k.upper(): v for k, v in headers.items()}, b"{}", PUB, 1299)


@pytest.mark.parametrize(
    "headers_fn, body, now",
    [
        (lambda h: h, b"{ }", 1000),  # body changed
        (lambda h: h, b"{}", 1301),  # too old
        (lambda h: h, b"{}", 699),  # from the future
        (lambda h: {**h, "x-nwc-timestamp": "999"}, b"{}", 1000),  # timestamp swapped
        (lambda h: {**h, "x-nwc-signature": "zz"}, b"{}", 1000),
        (lambda h: {}, b"{}", 1000),
    ],
)
def test_bad_deliveries_are_refused(headers_fn, body: bytes, now: int) -> None:
    headers = headers_fn(sign_delivery(b"{}", SECRET, 1000))
    with pytest.raises(WebhookAuthError):
        verify_delivery(headers, body, PUB, now)


def test_other_watcher_key_is_refused() -> None:
    headers = sign_delivery(b"{}", generate_private_key(), 1000)
    with pytest.raises(WebhookAuthError):
        verify_delivery(headers, b"{}", PUB, 1000)


def test_parse_delivery() -> None:
    d = parse_delivery(
        b'{"event": {"a": 1}, "relays": ["wss://r"], "delivery": {"id": "x", "attempt": 3}}'
    )
    assert (
        d.type == "request" and d.event == {"a": 1} and d.attempt == 3 and d.relays == ["wss://r"]
    )
    assert parse_delivery(b'{"type": "wake"}').type == "wake"
    with pytest.raises(BadDelivery):
        parse_delivery(b"x" * (300 * 1024))


def test_uri_round_trip_and_errors() -> None:
    uri = ConnectionUri("ab" * 32, ["wss://relay.one/v1", "wss://two"], "cd" * 32, "me@example.com")
    parsed = parse_uri(str(uri))
    assert parsed == uri
    assert "cd" * 32 not in repr(parsed)
    for bad in [
        "nostr+walletconnect://zz?relay=wss://r&secret=" + "cd" * 32,
        "nostr+walletconnect://" + "ab" * 32 + "?secret=" + "cd" * 32,
        "nostr+walletconnect://" + "ab" * 32 + "?relay=wss://r&secret=12",
        "https://example.com",
    ]:
        with pytest.raises(ValueError):
            parse_uri(bad)
