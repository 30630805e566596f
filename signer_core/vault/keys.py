"""The key hierarchy of the sealed state (format v1); see docs/state-format.md.

Every derivation is HKDF-SHA256 with the salt ``nwc-signer/v1`` and its own info string
``nwc-signer/v1/<purpose>`` followed by NUL-separated context fields. Identifiers that enter
an info string or an associated-data string never contain NUL (``check_id`` enforces it), so
the encodings are unambiguous.

    root secret ──HKDF "service-key"──► wallet-service private key per connection id
    (service key, client pubkey) ──NIP-44 conversation key──HKDF "connection-kek"──► KEK
    root secret ──HKDF "admin-kek"──► admin KEK (the signer's own wrap)
    root secret ‖ DEK ──HKDF "body-key"──► the AES key of the state body
    root secret ──HKDF "wrap-tag"──► key of the wrap-reuse tags

Only stdlib and coincurve (through ``signer_core.crypto``): cheap on a cold start.
"""

from __future__ import annotations

from signer_core.crypto.hkdf import hkdf
from signer_core.crypto.nip44 import Nip44Error, get_conversation_key
from signer_core.crypto.secp import InvalidKey, xonly_pubkey

__all__ = [
    "INFO_ADMIN_KEK",
    "INFO_BODY_KEY",
    "INFO_CONNECTION_KEK",
    "INFO_SERVICE_KEY",
    "INFO_WRAP_TAG",
    "SALT",
    "admin_kek",
    "body_key",
    "check_id",
    "connection_kek",
    "parse_pubkey_hex",
    "service_connection_kek",
    "service_pubkey",
    "service_secret",
    "wrap_tag_key",
]

SALT = b"nwc-signer/v1"
INFO_SERVICE_KEY = b"nwc-signer/v1/service-key"
INFO_CONNECTION_KEK = b"nwc-signer/v1/connection-kek"
INFO_ADMIN_KEK = b"nwc-signer/v1/admin-kek"
INFO_BODY_KEY = b"nwc-signer/v1/body-key"
INFO_WRAP_TAG = b"nwc-signer/v1/wrap-tag"
INFO_REGISTRATION_KEY = b"nwc-signer/v1/registration-key"

_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_ID_CHARS = 128


def check_id(kind: str, value: object) -> str:
    """A wallet or connection id: 1..128 characters, no control characters (so no NUL)."""
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID_CHARS:
        raise ValueError(f"{kind} must be a string of 1..{_MAX_ID_CHARS} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{kind} must not contain control characters")
    return value


def _check_root(root_secret: bytes) -> None:
    if not isinstance(root_secret, bytes) or len(root_secret) != 32:
        raise ValueError("root secret must be 32 bytes")


def parse_pubkey_hex(kind: str, value: str) -> bytes:
    """32 bytes from a 64-character hex x-only public key (curve membership is not checked)."""
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"{kind} must be 64 hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{kind} must be 64 hex characters") from None


def _info(label: bytes, *fields: str) -> bytes:
    return b"\x00".join([label, *(f.encode("utf-8") for f in fields)])


def _conversation_key(privkey32: bytes, xonly_pub32: bytes) -> bytes:
    """The NIP-44 v2 conversation key, HKDF-extract("nip44-v2", ecdh_x(priv, pub)).

    Raises ``InvalidKey`` for a key that is not a valid scalar / curve point.
    """
    try:
        return get_conversation_key(privkey32, xonly_pub32)
    except Nip44Error as exc:
        raise InvalidKey(str(exc)) from None


def _scalar(root_secret: bytes, label: bytes, field: str, what: str) -> bytes:
    """HKDF(root, info = label 0x00 field 0x00 counter): the first output, by a one-byte
    counter from 0, that is a valid secp256k1 scalar (in practice always counter 0)."""
    for counter in range(256):
        info = _info(label, field) + b"\x00" + bytes([counter])
        candidate = hkdf(root_secret, salt=SALT, info=info)
        if 0 < int.from_bytes(candidate, "big") < _CURVE_ORDER:
            return candidate
    raise InvalidKey(f"no valid {what} after 256 counters")  # pragma: no cover


def service_secret(root_secret: bytes, connection_id: str) -> bytes:
    """The wallet-service private key of a connection.

    HKDF(root, info = "nwc-signer/v1/service-key" 0x00 connection_id 0x00 counter) with a
    one-byte counter starting at 0, incremented while the output is not a valid scalar
    (probability ~2**-128 per try: in practice always counter 0).
    """
    _check_root(root_secret)
    check_id("connection id", connection_id)
    return _scalar(root_secret, INFO_SERVICE_KEY, connection_id, "service key")


def service_pubkey(root_secret: bytes, connection_id: str) -> str:
    """The 64-hex x-only pubkey of a connection's wallet service (the host of its NWC URI)."""
    return xonly_pubkey(service_secret(root_secret, connection_id)).hex()


def connection_kek(conversation_key: bytes, wallet_id: str, service_pubkey_hex: str) -> bytes:
    """The key-encryption key of one connection.

    HKDF(ikm = NIP-44 conversation key of (service key, client pubkey),
         info = "nwc-signer/v1/connection-kek" 0x00 wallet_id 0x00 service_pubkey_hex).
    The conversation key is symmetric, so the client's secret and the service pubkey give the
    same KEK as the service secret and the client pubkey.
    """
    if len(conversation_key) != 32:
        raise ValueError("conversation key must be 32 bytes")
    check_id("wallet id", wallet_id)
    parse_pubkey_hex("service pubkey", service_pubkey_hex)
    return hkdf(
        conversation_key,
        salt=SALT,
        info=_info(INFO_CONNECTION_KEK, wallet_id, service_pubkey_hex),
    )


def service_connection_kek(
    root_secret: bytes, connection_id: str, wallet_id: str, client_pubkey: bytes
) -> tuple[str, bytes]:
    """(service pubkey hex, KEK) computed on the signer's side: one point multiplication for
    the service pubkey and one ECDH. Raises ``InvalidKey`` for a client pubkey off the curve.
    """
    secret = service_secret(root_secret, connection_id)
    spk_hex = xonly_pubkey(secret).hex()
    kek = connection_kek(_conversation_key(secret, client_pubkey), wallet_id, spk_hex)
    return spk_hex, kek


def admin_kek(root_secret: bytes, wallet_id: str) -> bytes:
    """The signer's own wrap key: HKDF(root, info = "nwc-signer/v1/admin-kek" 0x00 wallet_id).

    Root secret + blob open the wallet through it (scheduled wake-ups, CLI administration).
    """
    _check_root(root_secret)
    check_id("wallet id", wallet_id)
    return hkdf(root_secret, salt=SALT, info=_info(INFO_ADMIN_KEK, wallet_id))


def body_key(root_secret: bytes, dek: bytes, wallet_id: str) -> bytes:
    """The AES-256-GCM key of the state body: HKDF(ikm = root ‖ DEK,
    info = "nwc-signer/v1/body-key" 0x00 wallet_id).

    Mixing in the root secret means an unwrapped DEK alone (e.g. by a connection's client,
    who can compute its KEK) does not decrypt or forge the state.
    """
    _check_root(root_secret)
    if len(dek) != 32:
        raise ValueError("data key must be 32 bytes")
    check_id("wallet id", wallet_id)
    return hkdf(root_secret + dek, salt=SALT, info=_info(INFO_BODY_KEY, wallet_id))


def wrap_tag_key(root_secret: bytes, wallet_id: str) -> bytes:
    """HMAC key of the wrap-reuse tags:
    HKDF(root, info = "nwc-signer/v1/wrap-tag" 0x00 wallet_id)."""
    _check_root(root_secret)
    check_id("wallet id", wallet_id)
    return hkdf(root_secret, salt=SALT, info=_info(INFO_WRAP_TAG, wallet_id))


def registration_secret(root_secret: bytes, wallet_id: str) -> bytes:
    """The key a wallet signs its relay-watcher registrations with (relay_watcher/registration).

    HKDF(root, info = "nwc-signer/v1/registration-key" 0x00 wallet_id), retried with a counter
    like the service keys. Its own purpose label, so a watcher never sees a signature by a key
    that also opens or signs anything else.
    """
    _check_root(root_secret)
    check_id("wallet id", wallet_id)
    return _scalar(root_secret, INFO_REGISTRATION_KEY, wallet_id, "registration key")
