"""The watcher -> function webhook: signing, verification and the body's shape.

The watcher signs each delivery with its own key (BIP-340 over a domain-separated hash of
timestamp and body); the function knows only the watcher's *public* key, which fits a
one-click deploy link where a shared HMAC secret would not. See docs/webhook.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from signer_core.crypto.secp import schnorr_sign, schnorr_verify

SIGNATURE_HEADER = "x-nwc-signature"
TIMESTAMP_HEADER = "x-nwc-timestamp"
DOMAIN = b"nwc-signer/webhook/v1"
MAX_SKEW_S = 300
MAX_BODY_BYTES = 256 * 1024


class WebhookAuthError(Exception):
    """The delivery is not from our watcher (401)."""


class BadDelivery(Exception):
    """The delivery is from our watcher but malformed (400)."""


def signing_digest(timestamp: str, body: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + b"\n" + timestamp.encode() + b"\n" + body).digest()


def sign_delivery(body: bytes, watcher_secret: bytes, now: int) -> dict[str, str]:
    """Headers for a delivery (used by the watcher and by tests)."""
    ts = str(now)
    sig = schnorr_sign(signing_digest(ts, body), watcher_secret)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sig.hex()}


def verify_delivery(headers: Mapping[str, str], body: bytes, watcher_pubkey: str, now: int) -> None:
    """Raise WebhookAuthError unless the delivery is freshly signed by the watcher."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts = lower.get(TIMESTAMP_HEADER, "")
    sig_hex = lower.get(SIGNATURE_HEADER, "")
    if not ts.isdigit() or len(ts) > 12:
        raise WebhookAuthError("missing or malformed webhook timestamp")
    if abs(now - int(ts)) > MAX_SKEW_S:
        raise WebhookAuthError("webhook timestamp outside the allowed window")
    try:
        sig = bytes.fromhex(sig_hex)
        pub = bytes.fromhex(watcher_pubkey)
    except ValueError:
        raise WebhookAuthError("malformed webhook signature") from None
    if not schnorr_verify(signing_digest(ts, body), sig, pub):
        raise WebhookAuthError("bad webhook signature")


@dataclass
class Delivery:
    """A parsed webhook body: an NWC request event, or a scheduled wake-up."""

    type: str  # "request" | "wake"
    event: dict[str, Any] | None = None
    relays: list[str] = field(default_factory=list)
    delivery_id: str = ""
    attempt: int = 1


def parse_delivery(body: bytes) -> Delivery:
    if len(body) > MAX_BODY_BYTES:
        raise BadDelivery(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadDelivery("body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise BadDelivery("body must be a JSON object")
    kind = raw.get("type", "request")
    if kind not in ("request", "wake"):
        raise BadDelivery(f"unknown delivery type {kind!r}")
    relays = raw.get("relays", [])
    if not isinstance(relays, list) or not all(isinstance(r, str) for r in relays):
        raise BadDelivery("relays must be a list of strings")
    meta = raw.get("delivery") or {}
    if not isinstance(meta, dict):
        raise BadDelivery("delivery must be an object")
    attempt = meta.get("attempt", 1)
    delivery = Delivery(
        type=kind,
        relays=relays,
        delivery_id=str(meta.get("id", "")),
        attempt=attempt if isinstance(attempt, int) else 1,
    )
    if kind == "request":
        event = raw.get("event")
        if not isinstance(event, dict):
            raise BadDelivery("a request delivery needs an event object")
        delivery.event = event
    return delivery
