"""Signed wallet registrations: what a wallet sends the watcher, and how the watcher checks it.

A registration is signed by the wallet's *registration key* (derived from the wallet's root
secret, `signer_core.vault.keys.registration_secret`); its x-only pubkey identifies the wallet
at the watcher. Each wallet-service pubkey comes with a proof (a Schnorr signature by that
service key over the wallet pubkey), so nobody can claim, and so hijack or silence, another
wallet's connection keys, which are public in every 13194 info event.

Replays: the signed timestamp must be within MAX_SKEW_S of the watcher's clock, must not be
older than the last accepted registration of the wallet, and each signature is accepted once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from relay_watcher import urls
from signer_core.crypto.secp import schnorr_sign, schnorr_verify, xonly_pubkey
from signer_core.protocol.keyproof import proof_digest as _proof_digest
from signer_core.protocol.keyproof import service_key_proof
from signer_core.protocol.text import BadJson, loads, parse_uint

DOMAIN = b"nwc-signer/register/v1"
SIGNATURE_HEADER = "x-nwc-signature"
TIMESTAMP_HEADER = "x-nwc-timestamp"
MAX_SKEW_S = 300
MAX_SERVICE_KEYS = 1000
MAX_RELAYS = 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


class RegistrationError(Exception):
    """A registration that is malformed (400) or not authentic (401)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Registration:
    action: str  # "register" | "unregister"
    wallet_pubkey: str
    function_url: str
    relays: tuple[str, ...]
    service_pubkeys: tuple[str, ...]
    timestamp: int
    signature: str


def signed_digest(domain: bytes, timestamp: str, body: bytes) -> bytes:
    """What a wallet's registration key signs: a domain-separated hash of time and body."""
    return hashlib.sha256(domain + b"\n" + timestamp.encode() + b"\n" + body).digest()


def _digest(timestamp: str, body: bytes) -> bytes:
    return signed_digest(DOMAIN, timestamp, body)


def sign_body(
    domain: bytes, registration_secret: bytes, body: dict[str, Any], now: int
) -> tuple[dict[str, str], bytes]:
    """Headers and JSON body of a request signed by the wallet's registration key (a
    registration here; a lightning-address claim in lnurl_claims.py)."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    ts = str(now)
    sig = schnorr_sign(signed_digest(domain, ts, raw), registration_secret).hex()
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sig, "content-type": "application/json"}, raw


def verify_signed(
    domain: bytes, headers: dict[str, str], body: bytes, now: int, what: str
) -> tuple[dict[str, Any], str, str, int]:
    """(JSON object, wallet pubkey, signature, signed-at) of a request signed by a wallet's
    registration key; RegistrationError(400/401) naming `what` otherwise. The body is parsed
    (depth-bounded) before the signature is checked: the key is in the body."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts, sig = lower.get(TIMESTAMP_HEADER, ""), lower.get(SIGNATURE_HEADER, "")
    signed_at = parse_uint(ts, max_digits=12)  # ASCII digits only: "²".isdigit() is True
    if signed_at is None or not _HEX128.fullmatch(sig):
        raise RegistrationError(401, "missing or malformed signature headers")
    if abs(now - signed_at) > MAX_SKEW_S:
        raise RegistrationError(401, f"{what} timestamp outside the allowed window")
    try:
        raw = loads(body)
    except BadJson as exc:
        raise RegistrationError(400, f"body is not acceptable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RegistrationError(400, "body must be a JSON object")
    wallet = raw.get("wallet_pubkey")
    if not isinstance(wallet, str) or not _HEX64.fullmatch(wallet):
        raise RegistrationError(400, "wallet_pubkey must be 64 lower-case hex characters")
    digest = signed_digest(domain, ts, body)
    if not schnorr_verify(digest, bytes.fromhex(sig), bytes.fromhex(wallet)):
        raise RegistrationError(401, f"bad {what} signature")
    return raw, wallet, sig, signed_at


def build(
    registration_secret: bytes,
    *,
    now: int,
    function_url: str = "",
    relays: list[str] | None = None,
    service_secrets: list[bytes] | None = None,
    action: str = "register",
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a signed registration (wallet side: CLI, `nwc-signer dev`)."""
    wallet_pubkey = xonly_pubkey(registration_secret).hex()
    body: dict[str, Any] = {"action": action, "wallet_pubkey": wallet_pubkey}
    if action == "register":
        body["function_url"] = function_url
        body["relays"] = list(relays or [])
        body["service_keys"] = [
            {"pubkey": xonly_pubkey(s).hex(), "proof": service_key_proof(s, wallet_pubkey)}
            for s in service_secrets or []
        ]
    return sign_body(DOMAIN, registration_secret, body, now)


def _relay_url(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith(("ws://", "wss://"))
        or len(value) > 500
        or not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise RegistrationError(400, "relays must be ws:// or wss:// URLs (printable ASCII)")
    return value


def verify(headers: dict[str, str], body: bytes, now: int) -> Registration:
    """Parse and authenticate a registration; RegistrationError(400/401) otherwise."""
    raw, wallet, sig, signed_at = verify_signed(DOMAIN, headers, body, now, "registration")
    action = raw.get("action", "register")
    if action == "unregister":
        return Registration(action, wallet, "", (), (), signed_at, sig)
    if action != "register":
        raise RegistrationError(400, f"unknown action {action!r}")
    try:  # the syntax here; which addresses it may reach is the watcher's policy (service.py)
        url = str(urls.parse(raw.get("function_url")))
    except urls.UrlRefused as exc:
        raise RegistrationError(400, str(exc)) from None
    relays = raw.get("relays")
    if not isinstance(relays, list) or not 0 < len(relays) <= MAX_RELAYS:
        raise RegistrationError(400, f"relays must be a list of 1 to {MAX_RELAYS} URLs")
    keys = raw.get("service_keys")
    if not isinstance(keys, list) or len(keys) > MAX_SERVICE_KEYS:
        raise RegistrationError(400, f"service_keys must be a list of at most {MAX_SERVICE_KEYS}")
    pubkeys = []
    proof_digest = _proof_digest(wallet)
    for item in keys:
        pub = item.get("pubkey") if isinstance(item, dict) else None
        proof = item.get("proof") if isinstance(item, dict) else None
        if not isinstance(pub, str) or not _HEX64.fullmatch(pub):
            raise RegistrationError(400, "each service key needs a 64-hex pubkey")
        if not isinstance(proof, str) or not _HEX128.fullmatch(proof):
            raise RegistrationError(400, f"service key {pub[:12]}… has no valid proof")
        if not schnorr_verify(proof_digest, bytes.fromhex(proof), bytes.fromhex(pub)):
            raise RegistrationError(401, f"service key {pub[:12]}… proof does not verify")
        pubkeys.append(pub)
    relay_list = tuple(dict.fromkeys(_relay_url(r) for r in relays))
    return Registration(
        "register", wallet, url, relay_list, tuple(dict.fromkeys(pubkeys)), signed_at, sig
    )
