"""The watcher <-> function webhook contract, in both directions (docs/webhook.md).

The one owner of the wire format: the watcher builds and signs deliveries with
`signed_delivery`, every function entry point checks them with `verify_delivery` +
`parse_delivery` and answers with `encode_response`, and the watcher (and every test
harness) reads that answer with `parse_response`.

The watcher signs each delivery with its own key (BIP-340 over a domain-separated hash of
timestamp and body); the function knows only the watcher's *public* key, which fits a
one-click deploy link where a shared HMAC secret would not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from signer_core.crypto.secp import schnorr_sign, schnorr_verify
from signer_core.protocol.text import BadJson, loads, parse_uint

SIGNATURE_HEADER = "x-nwc-signature"
TIMESTAMP_HEADER = "x-nwc-timestamp"
DOMAIN = b"nwc-signer/webhook/v1"
MAX_SKEW_S = 300
MAX_BODY_BYTES = 256 * 1024

DeliveryType = Literal["request", "wake", "challenge", "invoice"]


class WebhookAuthError(Exception):
    """The delivery is not from our watcher (401)."""


class BadDelivery(Exception):
    """The delivery is from our watcher but malformed (400)."""


# --- the delivery (watcher -> function) -------------------------------------------------


@dataclass
class Delivery:
    """A webhook body: an NWC request event, or a scheduled wake-up."""

    type: DeliveryType = "request"
    event: dict[str, Any] | None = None
    relays: list[str] = field(default_factory=list)
    delivery_id: str = ""
    attempt: int = 1
    # "challenge" (registration, signer_core/protocol/challenge.py): {"nonce", "function_url"}
    challenge: dict[str, str] | None = None
    # "invoice" (LNURL-pay, docs/lightning-address.md): {"amount": msat, "metadata": str,
    # "zap_request": 9734 event | absent, "comment": str | absent, "address": name@host}
    invoice: dict[str, Any] | None = None

    def encode(self) -> bytes:
        meta = {"id": self.delivery_id, "attempt": self.attempt}
        if self.type == "invoice":
            invoice = {"type": "invoice", "invoice": self.invoice, "delivery": meta}
            return json.dumps(invoice).encode()
        if self.type == "challenge":
            return json.dumps({"type": "challenge", "challenge": self.challenge,
                               "delivery": meta}).encode()  # fmt: skip
        if self.type == "wake":
            return json.dumps({"type": "wake", "delivery": meta}).encode()
        body = {"type": "request", "event": self.event, "relays": self.relays, "delivery": meta}
        return json.dumps(body).encode()


def request_delivery(
    event: Mapping[str, Any],
    relays: list[str] | None = None,
    *,
    delivery_id: str = "",
    attempt: int = 1,
) -> Delivery:
    """An NWC request delivery; its id defaults to the Nostr event id."""
    delivery_id = delivery_id or str(event.get("id", ""))
    return Delivery("request", dict(event), list(relays or []), delivery_id, attempt)


def wake_delivery(*, delivery_id: str = "", attempt: int = 1) -> Delivery:
    return Delivery("wake", delivery_id=delivery_id, attempt=attempt)


def signing_digest(timestamp: str, body: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + b"\n" + timestamp.encode() + b"\n" + body).digest()


def sign_delivery(body: bytes, watcher_secret: bytes, now: int) -> dict[str, str]:
    """The two signature headers for a body."""
    ts = str(now)
    sig = schnorr_sign(signing_digest(ts, body), watcher_secret)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sig.hex()}


def signed_delivery(
    delivery: Delivery, watcher_secret: bytes, now: int
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a delivery exactly as the watcher POSTs it."""
    body = delivery.encode()
    headers = {**sign_delivery(body, watcher_secret, now), "Content-Type": "application/json"}
    return headers, body


def verify_delivery(headers: Mapping[str, str], body: bytes, watcher_pubkey: str, now: int) -> None:
    """Raise WebhookAuthError unless the delivery is freshly signed by the watcher."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts = lower.get(TIMESTAMP_HEADER, "")
    sig_hex = lower.get(SIGNATURE_HEADER, "")
    signed_at = parse_uint(ts, max_digits=12)
    if signed_at is None:
        raise WebhookAuthError("missing or malformed webhook timestamp")
    if abs(now - signed_at) > MAX_SKEW_S:
        raise WebhookAuthError("webhook timestamp outside the allowed window")
    try:
        sig = bytes.fromhex(sig_hex)
        pub = bytes.fromhex(watcher_pubkey)
    except ValueError:
        raise WebhookAuthError("malformed webhook signature") from None
    if not schnorr_verify(signing_digest(ts, body), sig, pub):
        raise WebhookAuthError("bad webhook signature")


def parse_delivery(body: bytes) -> Delivery:
    """The delivery in a (verified) body; BadDelivery for anything malformed."""
    if len(body) > MAX_BODY_BYTES:
        raise BadDelivery(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        raw = loads(body)
    except BadJson as exc:
        raise BadDelivery(f"body is not acceptable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BadDelivery("body must be a JSON object")
    kind = raw.get("type", "request")
    if kind not in ("request", "wake", "challenge", "invoice"):
        raise BadDelivery(f"unknown delivery type {str(kind)[:32]!r}")
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
        delivery_id=str(meta.get("id", ""))[:128],
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1,
    )
    if kind == "request":
        event = raw.get("event")
        if not isinstance(event, dict):
            raise BadDelivery("a request delivery needs an event object")
        delivery.event = event
    if kind == "challenge":
        delivery.challenge = _challenge(raw.get("challenge"))
    if kind == "invoice":
        delivery.invoice = _invoice_request(raw.get("invoice"))
    return delivery


def challenge_delivery(nonce: str, function_url: str) -> Delivery:
    """The registration challenge: the function answers with `challenge_signature`
    (signer_core/protocol/challenge.py) to prove it holds the wallet's registration key."""
    return Delivery("challenge", challenge={"nonce": nonce, "function_url": function_url},
                    delivery_id=f"challenge-{nonce[:16]}")  # fmt: skip


def _challenge(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise BadDelivery("a challenge delivery needs a challenge object")
    nonce, url = raw.get("nonce"), raw.get("function_url")
    if not isinstance(nonce, str) or not _hex(nonce, 64):
        raise BadDelivery("challenge needs a 64-hex nonce")
    if not isinstance(url, str) or not 0 < len(url) <= 2048:
        raise BadDelivery("challenge needs a function_url")
    return {"nonce": nonce, "function_url": url}


# --- invoice requests (LNURL-pay for a lightning address, docs/lightning-address.md) ---

MAX_INVOICE_MSAT = 2_100_000_000_000_000_000  # 21M BTC: anything above is nonsense
MAX_METADATA_CHARS = 8192
MAX_COMMENT_CHARS = 640


def invoice_delivery(
    amount_msat: int,
    metadata: str,
    *,
    zap_request: Mapping[str, Any] | None = None,
    comment: str | None = None,
    address: str = "",
    delivery_id: str = "",
) -> Delivery:
    """A payer asked the wallet's lightning address for an invoice (the LNURL callback).
    The function answers `invoice={"pr": bolt11}` or `invoice={"reason": why}`."""
    body: dict[str, Any] = {"amount": amount_msat, "metadata": metadata, "address": address}
    if zap_request is not None:
        body["zap_request"] = dict(zap_request)
    if comment:
        body["comment"] = comment
    return Delivery("invoice", invoice=body, delivery_id=delivery_id)


def _invoice_request(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadDelivery("an invoice delivery needs an invoice object")
    amount, metadata = raw.get("amount"), raw.get("metadata")
    if type(amount) is not int or not 0 < amount <= MAX_INVOICE_MSAT:
        raise BadDelivery("invoice amount must be a positive number of millisatoshis")
    if not isinstance(metadata, str) or not 0 < len(metadata) <= MAX_METADATA_CHARS:
        raise BadDelivery("invoice metadata must be the LNURL metadata string")
    out: dict[str, Any] = {"amount": amount, "metadata": metadata}
    address, comment, zap = raw.get("address", ""), raw.get("comment"), raw.get("zap_request")
    out["address"] = address[:320] if isinstance(address, str) else ""
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
            raise BadDelivery(f"invoice comment must be text of at most {MAX_COMMENT_CHARS}")
        out["comment"] = comment
    if zap is not None:
        if not isinstance(zap, dict):
            raise BadDelivery("zap_request must be a Nostr event object")
        out["zap_request"] = zap
    return out


def _invoice_answer(raw: Any) -> dict[str, str] | None:
    """{"pr": bolt11} or {"reason": text the watcher may show the payer}; else None."""
    if not isinstance(raw, dict):
        return None
    pr, reason = raw.get("pr"), raw.get("reason")
    if isinstance(pr, str) and pr[:2].lower() == "ln" and len(pr) <= 4096 and pr.isascii():
        return {"pr": pr}
    if isinstance(reason, str) and reason:
        return {"reason": reason[:200]}
    return None


# --- the answer (function -> watcher) ---------------------------------------------------


@dataclass
class WebhookResponse:
    """What the function answers. Status semantics for the watcher: 2xx done (publish
    `events`, schedule `wake_at`), 4xx never retry, 409 retry soon (`retry_after`), 5xx
    retry with back-off."""

    status: int
    events: list[Any] = field(default_factory=list)
    wake_at: int | None = None
    message: str = ""
    retry_after: int | None = None
    # connection keys the watcher should start or stop serving for this wallet, after a
    # create_connection / revoke_connection over NWC (docs/nwc-admin-methods.md):
    # {"add": [{"pubkey": hex, "proof": hex}], "remove": [hex]}
    keys: dict[str, Any] | None = None
    challenge_signature: str = ""  # answer to a "challenge" delivery (128 hex)
    invoice: dict[str, str] | None = None  # answer to an "invoice": {"pr"} or {"reason"}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"events": self.events, "wake_at": self.wake_at}
        if self.message:
            body["message"] = self.message
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        if self.keys:
            body["keys"] = self.keys
        if self.challenge_signature:
            body["challenge_signature"] = self.challenge_signature
        if self.invoice:
            body["invoice"] = self.invoice
        return body

    @property
    def retryable(self) -> bool:
        return self.status == 409 or self.status >= 500


def encode_response(response: WebhookResponse) -> tuple[int, dict[str, str], bytes]:
    """HTTP status, headers and body of an answer (every entry point's last step)."""
    headers = {"Content-Type": "application/json"}
    if response.retry_after is not None:
        headers["Retry-After"] = str(response.retry_after)
    return response.status, headers, json.dumps(response.to_json()).encode()


def parse_response(status: int, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
    """Read a function's answer. Lenient by design: a malformed field is dropped, never
    raised, so one broken answer cannot stop the reader. Events are returned as sent:
    the watcher verifies each before publishing."""
    raw: Any = None
    if body:
        try:
            raw = loads(body)
        except BadJson:
            raw = None
    if not isinstance(raw, dict):
        text = body[:200].decode("utf-8", "replace") if body else ""
        return WebhookResponse(status, message=text, retry_after=_retry_after(headers, None))
    events = raw.get("events")
    wake_at = raw.get("wake_at")
    return WebhookResponse(
        status,
        events=[e for e in events if isinstance(e, dict)] if isinstance(events, list) else [],
        wake_at=_positive_int(wake_at),
        message=str(raw.get("message", ""))[:200],
        retry_after=_retry_after(headers, raw.get("retry_after")),
        keys=_keys(raw.get("keys")),
        challenge_signature=_signature(raw.get("challenge_signature")),
        invoice=_invoice_answer(raw.get("invoice")),
    )


def _signature(raw: Any) -> str:
    return raw if _hex(raw, 128) else ""


def _keys(raw: Any) -> dict[str, Any] | None:
    """Well-formed key changes only (64-hex keys, 128-hex proofs, at most 100 of each);
    the watcher still checks each proof against the wallet it delivered for."""
    if not isinstance(raw, dict):
        return None
    add, remove = raw.get("add"), raw.get("remove")
    add = add if isinstance(add, list) else []
    remove = remove if isinstance(remove, list) else []
    added = [
        {"pubkey": i["pubkey"], "proof": i["proof"]}
        for i in add[:100]
        if isinstance(i, dict) and _hex(i.get("pubkey"), 64) and _hex(i.get("proof"), 128)
    ]
    removed = [k for k in remove[:100] if _hex(k, 64)]
    return {"add": added, "remove": removed} if added or removed else None


def _hex(value: Any, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and all(c in "0123456789abcdef" for c in value)
    )


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _retry_after(headers: Mapping[str, str], in_body: Any) -> int | None:
    lower = {k.lower(): v for k, v in headers.items()}
    from_header = parse_uint(lower.get("retry-after", ""), max_digits=6)
    if from_header is not None:
        return from_header
    if isinstance(in_body, int) and not isinstance(in_body, bool) and 0 <= in_body < 10**6:
        return in_body
    return None
