"""NIP-47 events the wallet service emits, and the encryption negotiation rules.

Kinds: 13194 info, 23194 request, 23195 response, 23197 (NIP-44) / 23196 (NIP-04)
notification. A request without an `encryption` tag is NIP-04; NIP-44 v2 otherwise.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from signer_core.crypto import nip04, nip44
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.events import Event, sign_event, tag_value
from signer_core.protocol.text import BadJson, loads

INFO_KIND = 13194
REQUEST_KIND = 23194
RESPONSE_KIND = 23195
NOTIFICATION_KIND_NIP04 = 23196
NOTIFICATION_KIND = 23197

Scheme = Literal["nip44_v2", "nip04"]
SUPPORTED_SCHEMES: tuple[Scheme, ...] = ("nip44_v2", "nip04")
NOTIFICATION_TYPES = ("payment_received", "payment_sent")


def request_scheme(event: Event) -> Scheme:
    """The scheme a request uses; raises UNSUPPORTED_ENCRYPTION for anything else."""
    value = tag_value(event, "encryption")
    if value is None:
        return "nip04"
    if value == "nip44_v2":
        return "nip44_v2"
    if value == "nip04":
        return "nip04"
    raise NwcError(
        ErrorCode.UNSUPPORTED_ENCRYPTION,
        f"encryption {value!r} is not supported; use one of: {' '.join(SUPPORTED_SCHEMES)}",
    )


def encrypt(scheme: Scheme, plaintext: str, service_secret: bytes, client_pubkey: str) -> str:
    peer = bytes.fromhex(client_pubkey)
    if scheme == "nip44_v2":
        return nip44.encrypt(plaintext, nip44.get_conversation_key(service_secret, peer))
    return nip04.encrypt(plaintext, service_secret, peer)


def decrypt(scheme: Scheme, payload: str, service_secret: bytes, client_pubkey: str) -> str:
    """Decrypt request content; any failure is one OTHER error (never a traceback)."""
    peer = bytes.fromhex(client_pubkey)
    try:
        if scheme == "nip44_v2":
            return nip44.decrypt(payload, nip44.get_conversation_key(service_secret, peer))
        return nip04.decrypt(payload, service_secret, peer)
    except ValueError as exc:
        raise NwcError(ErrorCode.OTHER, f"cannot decrypt the request ({scheme}): {exc}") from None


def parse_request(plaintext: str) -> tuple[str, dict[str, Any]]:
    """{"method": ..., "params": {...}} -> (method, params). params may be missing."""
    try:
        raw = loads(plaintext)
    except BadJson as exc:
        raise NwcError(ErrorCode.OTHER, f"request content is not acceptable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise NwcError(ErrorCode.OTHER, "request content must be a JSON object")
    method = raw.get("method")
    if not isinstance(method, str) or not method:
        raise NwcError(ErrorCode.OTHER, "request has no method")
    params = raw.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise NwcError(ErrorCode.OTHER, "params must be a JSON object")
    return method, params


def response_event(
    *,
    service_secret: bytes,
    request_id: str,
    client_pubkey: str,
    scheme: Scheme,
    result_type: str,
    result: dict[str, Any] | None = None,
    error: NwcError | None = None,
    now: int,
) -> Event:
    body: dict[str, Any] = {
        "result_type": result_type,
        "error": error.to_nip47() if error else None,
        "result": None if error else (result or {}),
    }
    content = encrypt(scheme, json.dumps(body), service_secret, client_pubkey)
    tags = [["p", client_pubkey], ["e", request_id]]
    return sign_event(service_secret, RESPONSE_KIND, content, tags, created_at=now)


def notification_events(
    *,
    service_secret: bytes,
    client_pubkey: str,
    notification_type: str,
    transaction: dict[str, Any],
    now: int,
) -> list[Event]:
    """One notification as 23197 (NIP-44) and 23196 (NIP-04): we advertise both schemes."""
    body = json.dumps({"notification_type": notification_type, "notification": transaction})
    tags = [["p", client_pubkey]]
    return [
        sign_event(
            service_secret,
            NOTIFICATION_KIND,
            encrypt("nip44_v2", body, service_secret, client_pubkey),
            tags,
            created_at=now,
        ),
        sign_event(
            service_secret,
            NOTIFICATION_KIND_NIP04,
            encrypt("nip04", body, service_secret, client_pubkey),
            tags,
            created_at=now,
        ),
    ]


def info_event(
    *,
    service_secret: bytes,
    methods: list[str],
    notifications: list[str],
    now: int,
    extensions: list[str] | None = None,
    client_pubkey: str | None = None,
) -> Event:
    """The replaceable 13194 event of one wallet-service key. `extensions` lists the NWC
    extension specs served (["extensions", "02 05 321"]); `client_pubkey` adds a `p` tag
    so an app that brought its own key can find this event with a `#p` filter."""
    content = " ".join(methods + (["notifications"] if notifications else []))
    tags = [["encryption", " ".join(SUPPORTED_SCHEMES)]]
    if notifications:
        tags.append(["notifications", " ".join(notifications)])
    if extensions:
        tags.append(["extensions", " ".join(extensions)])
    if client_pubkey:
        tags.append(["p", client_pubkey])
    return sign_event(service_secret, INFO_KIND, content, tags, created_at=now)


def service_pubkey_of(service_secret: bytes) -> str:
    return xonly_pubkey(service_secret).hex()
