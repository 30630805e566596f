"""NIP-57 zaps: the zap-signing key, zap request (9734) checks and zap receipts (9735).

One copy for both sides: the watcher checks a payer's zap request before it wakes the
function (relay_watcher/lnurl.py), the function checks it again (it trusts the watcher for
nothing) and signs the receipt once the invoice is paid (signer_core/invoice_request.py).

The receipt is signed by a key of its own, derived from the wallet's root secret with its
own HKDF label: its public key is the LNURL `nostrPubkey`, so it is public, and it signs
nothing but receipts (never an NWC reply, never a registration).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from signer_core.crypto.hkdf import hkdf
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.events import Event, InvalidEvent, sign_event, verify_event
from signer_core.protocol.text import BadJson, loads, parse_uint
from signer_core.vault.keys import SALT, check_id

ZAP_REQUEST_KIND = 9734
ZAP_RECEIPT_KIND = 9735
INFO_ZAP_KEY = b"nwc-signer/v1/zap-key"
MAX_ZAP_RELAYS = 10
MAX_ZAP_REQUEST_BYTES = 4096

# what a lightning address accepts (LUD-06 minSendable/maxSendable, millisatoshis)
MIN_SENDABLE_MSAT = 1_000
MAX_SENDABLE_MSAT = 1_000_000_000  # 1,000,000 sat

_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class BadZapRequest(ValueError):
    """A zap request NIP-57 (appendix D) says to refuse; the message is for the payer."""


def zap_secret(root_secret: bytes, wallet_id: str) -> bytes:
    """The key that signs this wallet's zap receipts: HKDF(root, "nwc-signer/v1/zap-key" 0x00
    wallet_id 0x00 counter), the first valid scalar (like the service keys)."""
    if len(root_secret) != 32:
        raise ValueError("root secret must be 32 bytes")
    check_id("wallet id", wallet_id)
    for counter in range(256):
        info = INFO_ZAP_KEY + b"\x00" + wallet_id.encode() + b"\x00" + bytes([counter])
        candidate = hkdf(root_secret, salt=SALT, info=info)
        if 0 < int.from_bytes(candidate, "big") < _CURVE_ORDER:
            return candidate
    raise ValueError("no valid zap key after 256 counters")  # pragma: no cover


def zap_pubkey(root_secret: bytes, wallet_id: str) -> str:
    """The LNURL `nostrPubkey` of this wallet's lightning address."""
    return xonly_pubkey(zap_secret(root_secret, wallet_id)).hex()


@dataclass(frozen=True)
class ZapRequest:
    event: Event
    relays: tuple[str, ...]
    recipient: str  # the `p` tag: who is zapped

    def json(self) -> str:
        """The exact text the invoice's description hash and the receipt's description use."""
        return canonical_json(self.event)


def canonical_json(event: Mapping[str, Any]) -> str:
    return json.dumps(dict(event), separators=(",", ":"), ensure_ascii=False)


def check_zap_request(raw: object, amount_msat: int) -> ZapRequest:
    """NIP-57 appendix D: a valid signature, kind 9734, exactly one `p` tag, at most one `e`
    tag, relays to publish the receipt to, an `amount` tag (if any) equal to the amount."""
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_ZAP_REQUEST_BYTES:
            raise BadZapRequest("zap request too large")
        try:
            raw = loads(raw)
        except BadJson:
            raise BadZapRequest("zap request is not acceptable JSON") from None
    try:
        event = verify_event(raw, max_content_bytes=MAX_ZAP_REQUEST_BYTES)
    except InvalidEvent as exc:
        raise BadZapRequest(f"invalid zap request: {exc}") from None
    if event["kind"] != ZAP_REQUEST_KIND:
        raise BadZapRequest(f"zap request must be kind {ZAP_REQUEST_KIND}")
    tags = event["tags"]
    p_tags = [t for t in tags if t and t[0] == "p"]
    if len(p_tags) != 1 or len(p_tags[0]) < 2 or not _hex64(p_tags[0][1]):
        raise BadZapRequest("zap request must have exactly one valid p tag")
    if len([t for t in tags if t and t[0] == "e"]) > 1:
        raise BadZapRequest("zap request must have at most one e tag")
    for tag in tags:
        if tag and tag[0] == "P" and (len(tag) < 2 or not _hex64(tag[1])):
            raise BadZapRequest("zap request P tag must be a pubkey")
    relays = next((t[1:] for t in tags if t and t[0] == "relays"), [])
    relays = [r for r in relays if _relay(r)][:MAX_ZAP_RELAYS]
    if not relays:
        raise BadZapRequest("zap request names no relays (ws:// or wss://) for the receipt")
    amount = next((t[1] for t in tags if t and t[0] == "amount" and len(t) > 1), None)
    if amount is not None and parse_uint(amount, max_digits=19) != amount_msat:
        raise BadZapRequest("zap request amount tag does not match the amount")
    return ZapRequest(event, tuple(dict.fromkeys(relays)), p_tags[0][1])


def description_hash(text: str) -> str:
    """sha256 of the LNURL metadata or the zap request JSON: the invoice's `h` field."""
    return hashlib.sha256(text.encode()).hexdigest()


def zap_receipt(
    secret: bytes,
    zap_request: Mapping[str, Any],
    *,
    bolt11: str,
    paid_at: int,
    preimage: str | None = None,
) -> Event:
    """The kind 9735 receipt (NIP-57 appendix E). `created_at` is when the invoice was paid,
    so signing it again later yields the same event id: relays keep one copy."""
    request_tags: list[list[str]] = list(zap_request.get("tags") or [])
    tags: list[list[str]] = []
    for name in ("p", "e", "a"):
        tag = next((t for t in request_tags if t and t[0] == name and len(t) > 1), None)
        if tag is not None:
            tags.append([name, tag[1]])
    tags.append(["P", str(zap_request.get("pubkey", ""))])
    tags.append(["bolt11", bolt11])
    tags.append(["description", canonical_json(zap_request)])
    if preimage:
        tags.append(["preimage", preimage])
    return sign_event(secret, ZAP_RECEIPT_KIND, "", tags, created_at=paid_at)


def receipt_relays(event: Mapping[str, Any]) -> list[str]:
    """The relays a 9735 receipt should also go to: those of the zap request it carries."""
    if event.get("kind") != ZAP_RECEIPT_KIND:
        return []
    description = next(
        (t[1] for t in event.get("tags") or [] if t and t[0] == "description" and len(t) > 1),
        None,
    )
    if not isinstance(description, str) or len(description) > MAX_ZAP_REQUEST_BYTES:
        return []
    try:
        request = loads(description)
    except BadJson:
        return []
    tags = request.get("tags") if isinstance(request, dict) else None
    if not isinstance(tags, list):
        return []
    relays = next((t[1:] for t in tags if isinstance(t, list) and t and t[0] == "relays"), [])
    return list(dict.fromkeys(r for r in relays if _relay(r)))[:MAX_ZAP_RELAYS]


def _hex64(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _relay(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(("ws://", "wss://"))
        and len(value) <= 500
        and value.isascii()
        and value.isprintable()
        and not any(c.isspace() for c in value)
    )
