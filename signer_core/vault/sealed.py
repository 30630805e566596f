"""The sealed state blob, format version 1 (byte layout in docs/state-format.md).

    "NWCS" | 0x01 | u32 BE header length | canonical JSON header | nonce(12) | ct | tag(16)

The header (plain, but bound as associated data of the body) carries the wallet id, the
generation, the algorithm and one wrap of the data key (DEK) per authorized connection, indexed
by the connection's wallet-service pubkey, plus the signer's own admin wrap. The body is
AES-256-GCM over zlib(canonical JSON of the state dict); its associated data is every byte
before the body nonce.

Every failure is a ``VaultError`` subclass with a message that never carries plaintext.
Imports: stdlib and ``signer_core.crypto`` only (AES-GCM from its ``ciphers`` module).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from signer_core.crypto.ciphers import aes_gcm_decrypt, aes_gcm_encrypt
from signer_core.crypto.secp import InvalidKey
from signer_core.vault import keys

__all__ = [
    "ALG_V1",
    "FORMAT_V1",
    "MAGIC",
    "Malformed",
    "Opened",
    "RolledBack",
    "SealedBlob",
    "Tampered",
    "Unauthorized",
    "VaultError",
    "Wrap",
    "WrongWallet",
    "new_dek",
    "open_with_admin",
    "open_with_connection",
    "parse",
    "seal",
]

MAGIC = b"NWCS"
FORMAT_V1 = 1
ALG_V1 = "A256GCM"
ADMIN_LABEL = "admin"

_PREFIX_LEN = 4 + 1 + 4  # magic, format byte, u32 header length
_NONCE_LEN = 12
_TAG_LEN = 16
_DEK_LEN = 32
_WRAP_LEN = _NONCE_LEN + _DEK_LEN + _TAG_LEN  # 60 bytes -> 80 base64 chars, no padding
_REUSE_TAG_LEN = 16
_MAX_HEADER_LEN = 1 << 20
_HEADER_KEYS = frozenset({"admin", "alg", "generation", "wallet_id", "wraps"})
_WRAP_KEYS = frozenset({"cid", "t", "w"})
_HEX = frozenset("0123456789abcdef")


class VaultError(Exception):
    """The sealed state could not be opened. Never carries any plaintext."""


class Malformed(VaultError):
    """Truncated, garbled, unknown magic, unknown format version or algorithm."""


class WrongWallet(VaultError):
    """The blob belongs to another wallet (a swapped blob)."""


class RolledBack(VaultError):
    """The blob's generation is below the caller's high-water mark (a replayed old blob)."""


class Tampered(VaultError):
    """The body failed authentication: header or body bytes were changed."""


class Unauthorized(VaultError):
    """No wrap for this service pubkey, or the wrap does not open with this key."""


class Wrap(NamedTuple):
    """One connection's wrap: its id, the wrapped DEK (nonce|ct|tag) and its reuse tag."""

    connection_id: str
    wrapped: bytes
    reuse_tag: bytes


class SealedBlob(NamedTuple):
    """A parsed blob: structure only, nothing authenticated or decrypted yet."""

    format_version: int
    wallet_id: str
    generation: int
    alg: str
    wraps: Mapping[str, Wrap]  # service pubkey hex -> wrap
    admin_wrap: bytes
    aad: bytes  # everything before the body: magic, format, header length, header
    body: bytes  # nonce | ciphertext | tag

    def connection_for(self, service_pubkey_hex: str) -> str | None:
        """The connection id wrapped for this service pubkey, if any (unauthenticated)."""
        wrap = self.wraps.get(service_pubkey_hex)
        return wrap.connection_id if wrap is not None else None


class Opened(NamedTuple):
    """An opened blob. ``connection_id`` is None when opened with the admin wrap."""

    connection_id: str | None
    dek: bytes
    generation: int
    state: dict[str, Any]
    sealed: SealedBlob

    @property
    def wallet_id(self) -> str:
        return self.sealed.wallet_id


def new_dek() -> bytes:
    """A fresh random 32-byte data key."""
    return os.urandom(_DEK_LEN)


# --- encoding helpers -------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, length: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise Malformed(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{what} is not valid base64") from None
    if len(raw) != length or _b64(raw) != text:
        raise Malformed(f"{what} has the wrong length or a non-canonical encoding")
    return raw


def _wrap_aad(wallet_id: str, label: str) -> bytes:
    # label: the service pubkey hex of a connection wrap, or "admin"
    return MAGIC + bytes([FORMAT_V1]) + b"wrap\x00" + wallet_id.encode() + b"\x00" + label.encode()


def _gcm_encrypt(key: bytes, aad: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_LEN)
    return nonce + aes_gcm_encrypt(key, nonce, plaintext, aad)


def _gcm_decrypt(key: bytes, aad: bytes, sealed: bytes) -> bytes | None:
    """The plaintext, or None when authentication fails (no plaintext escapes then)."""
    if len(sealed) < _NONCE_LEN + _TAG_LEN:
        return None
    return aes_gcm_decrypt(key, sealed[:_NONCE_LEN], sealed[_NONCE_LEN:], aad)


def _reuse_tag(
    tag_key: bytes,
    service_pubkey_hex: str,
    connection_id: str,
    client_hex: str,
    dek: bytes,
    wrapped: bytes,
) -> bytes:
    msg = b"\x00".join(
        [
            MAGIC + bytes([FORMAT_V1]),
            service_pubkey_hex.encode(),
            connection_id.encode(),
            client_hex.encode(),
            dek + wrapped,
        ]
    )
    return hmac.new(tag_key, msg, hashlib.sha256).digest()[:_REUSE_TAG_LEN]


# --- parse ----------------------------------------------------------------------------


def parse(blob: bytes) -> SealedBlob:
    """Split a blob into its header fields and body; checks structure only, uses no key."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise Malformed("sealed state must be bytes")
    blob = bytes(blob)
    if len(blob) < _PREFIX_LEN:
        raise Malformed(f"truncated: {len(blob)} bytes is shorter than the fixed prefix")
    if blob[:4] != MAGIC:
        raise Malformed("not a sealed nwc-signer state (bad magic)")
    if blob[4] != FORMAT_V1:
        raise Malformed(f"unknown format version {blob[4]} (this code reads version 1)")
    header_len = int.from_bytes(blob[5:9], "big")
    if header_len > _MAX_HEADER_LEN:
        raise Malformed(f"header length {header_len} exceeds the limit")
    end = _PREFIX_LEN + header_len
    if len(blob) < end + _NONCE_LEN + _TAG_LEN:
        raise Malformed("truncated: header or body cut short")
    raw_header = blob[_PREFIX_LEN:end]
    try:
        header = json.loads(raw_header.decode("ascii"))
        canonical = _canonical_json(header) == raw_header
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError):
        raise Malformed("header is not valid JSON") from None
    if not canonical:
        raise Malformed("header is not in canonical JSON form")
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        raise Malformed(f"header must have exactly the keys {sorted(_HEADER_KEYS)}")

    wallet_id = header["wallet_id"]
    try:
        keys.check_id("wallet id", wallet_id)
    except ValueError as exc:
        raise Malformed(f"header: {exc}") from None
    generation = header["generation"]
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
        raise Malformed("header: generation must be an integer >= 1")
    if header["alg"] != ALG_V1:
        raise Malformed(f"header: unknown algorithm (version 1 uses {ALG_V1})")
    admin_wrap = _unb64(header["admin"], _WRAP_LEN, "header: admin wrap")
    raw_wraps = header["wraps"]
    if not isinstance(raw_wraps, dict):
        raise Malformed("header: wraps must be an object")
    wraps: dict[str, Wrap] = {}
    for spk, entry in raw_wraps.items():
        if len(spk) != 64 or not set(spk) <= _HEX:
            raise Malformed("header: wrap keys must be 64 lowercase hex characters")
        if not isinstance(entry, dict) or set(entry) != _WRAP_KEYS:
            raise Malformed(f"header: each wrap must have exactly the keys {sorted(_WRAP_KEYS)}")
        try:
            cid = keys.check_id("connection id", entry["cid"])
        except ValueError as exc:
            raise Malformed(f"header: {exc}") from None
        wraps[spk] = Wrap(
            connection_id=cid,
            wrapped=_unb64(entry["w"], _WRAP_LEN, "header: wrap"),
            reuse_tag=_unb64(entry["t"], _REUSE_TAG_LEN, "header: wrap tag"),
        )
    return SealedBlob(
        format_version=FORMAT_V1,
        wallet_id=wallet_id,
        generation=generation,
        alg=ALG_V1,
        wraps=wraps,
        admin_wrap=admin_wrap,
        aad=blob[:end],
        body=blob[end:],
    )


# --- open -----------------------------------------------------------------------------


def _as_sealed(sealed: SealedBlob | bytes) -> SealedBlob:
    return sealed if isinstance(sealed, SealedBlob) else parse(sealed)


def _check_header(sealed: SealedBlob, expected_wallet_id: str, min_generation: int) -> None:
    if sealed.wallet_id != expected_wallet_id:
        raise WrongWallet("the sealed state belongs to another wallet (swapped blob)")
    if sealed.generation < min_generation:
        raise RolledBack(
            f"generation {sealed.generation} is below the high-water mark {min_generation}"
            " (an old blob was put back)"
        )


def _open_body(
    sealed: SealedBlob, root_secret: bytes, dek: bytes, connection_id: str | None
) -> Opened:
    key = keys.body_key(root_secret, dek, sealed.wallet_id)
    compressed = _gcm_decrypt(key, sealed.aad, sealed.body)
    if compressed is None:
        raise Tampered("the sealed state failed authentication (modified header or body)")
    try:
        state = json.loads(zlib.decompress(compressed).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        raise Malformed("authenticated body does not hold a JSON document") from None
    if not isinstance(state, dict):
        raise Malformed("authenticated body does not hold a JSON object")
    return Opened(connection_id, dek, sealed.generation, state, sealed)


def open_with_connection(
    sealed: SealedBlob | bytes,
    *,
    root_secret: bytes,
    service_pubkey_hex: str,
    client_pubkey_hex: str,
    expected_wallet_id: str,
    min_generation: int,
) -> Opened:
    """Open the state for a request from ``client_pubkey_hex`` to ``service_pubkey_hex``.

    Succeeds only when the blob holds a wrap for that service pubkey which opens with the KEK
    of (service key, this client pubkey): a stranger's pubkey gets ``Unauthorized``.
    """
    sealed = _as_sealed(sealed)
    _check_header(sealed, expected_wallet_id, min_generation)
    wrap = sealed.wraps.get(service_pubkey_hex)
    if wrap is None:
        raise Unauthorized("no connection is authorized for this service pubkey")
    try:
        client = keys.parse_pubkey_hex("client pubkey", client_pubkey_hex)
    except ValueError:
        raise Unauthorized("client pubkey is not 64 hex characters") from None
    try:
        spk_hex, kek = keys.service_connection_kek(
            root_secret, wrap.connection_id, sealed.wallet_id, client
        )
    except InvalidKey:
        raise Unauthorized("client pubkey is not a valid x-only public key") from None
    if spk_hex != service_pubkey_hex:
        raise Unauthorized("the wrap's connection does not derive this service pubkey")
    dek = _gcm_decrypt(kek, _wrap_aad(sealed.wallet_id, spk_hex), wrap.wrapped)
    if dek is None:
        raise Unauthorized("the wrap does not open with this client pubkey")
    return _open_body(sealed, root_secret, dek, wrap.connection_id)


def open_with_admin(
    sealed: SealedBlob | bytes,
    *,
    root_secret: bytes,
    expected_wallet_id: str,
    min_generation: int,
) -> Opened:
    """Open the state with the signer's own admin wrap (scheduled wake-ups, administration)."""
    sealed = _as_sealed(sealed)
    _check_header(sealed, expected_wallet_id, min_generation)
    kek = keys.admin_kek(root_secret, sealed.wallet_id)
    dek = _gcm_decrypt(kek, _wrap_aad(sealed.wallet_id, ADMIN_LABEL), sealed.admin_wrap)
    if dek is None:
        raise Unauthorized("the admin wrap does not open with this root secret")
    return _open_body(sealed, root_secret, dek, None)


# --- seal -----------------------------------------------------------------------------


def seal(
    state: Mapping[str, Any],
    *,
    root_secret: bytes,
    wallet_id: str,
    generation: int,
    dek: bytes,
    connections: Mapping[str, str],
    previous: SealedBlob | None = None,
) -> bytes:
    """Seal ``state`` as format v1.

    ``connections`` maps connection id -> client pubkey hex; each gets one wrap, nothing else
    does. A wrap from ``previous`` is reused (no ECDH) when its reuse tag proves it was made
    for the same service pubkey, connection id, client pubkey and DEK; otherwise it is
    recomputed. Revocation: drop the connection and pass a ``new_dek()``. A new wallet is
    sealed with generation 1; every write uses the previous generation + 1.
    """
    keys.check_id("wallet id", wallet_id)
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
        raise ValueError("generation must be an integer >= 1")
    if not isinstance(dek, bytes) or len(dek) != _DEK_LEN:
        raise ValueError("data key must be 32 bytes")
    if not isinstance(state, Mapping):
        raise TypeError("state must be a mapping")
    body_plain = zlib.compress(_canonical_json(dict(state)))

    tag_key = keys.wrap_tag_key(root_secret, wallet_id)
    reusable: dict[str, tuple[str, Wrap]] = {}
    if previous is not None and previous.wallet_id == wallet_id:
        for spk_hex, old in previous.wraps.items():
            reusable.setdefault(old.connection_id, (spk_hex, old))

    wraps: dict[str, dict[str, str]] = {}
    for cid, client_pubkey_hex in connections.items():
        keys.check_id("connection id", cid)
        client = keys.parse_pubkey_hex("client pubkey", client_pubkey_hex)
        client_hex = client.hex()
        candidate = reusable.get(cid)
        if candidate is not None:
            spk_hex, old = candidate
            expected = _reuse_tag(tag_key, spk_hex, cid, client_hex, dek, old.wrapped)
            if hmac.compare_digest(expected, old.reuse_tag):
                wraps[spk_hex] = {"cid": cid, "t": _b64(old.reuse_tag), "w": _b64(old.wrapped)}
                continue
        spk_hex, kek = keys.service_connection_kek(root_secret, cid, wallet_id, client)
        wrapped = _gcm_encrypt(kek, _wrap_aad(wallet_id, spk_hex), dek)
        tag = _reuse_tag(tag_key, spk_hex, cid, client_hex, dek, wrapped)
        wraps[spk_hex] = {"cid": cid, "t": _b64(tag), "w": _b64(wrapped)}

    admin = _gcm_encrypt(
        keys.admin_kek(root_secret, wallet_id), _wrap_aad(wallet_id, ADMIN_LABEL), dek
    )
    header = _canonical_json(
        {
            "admin": _b64(admin),
            "alg": ALG_V1,
            "generation": generation,
            "wallet_id": wallet_id,
            "wraps": wraps,
        }
    )
    aad = MAGIC + bytes([FORMAT_V1]) + len(header).to_bytes(4, "big") + header
    return aad + _gcm_encrypt(keys.body_key(root_secret, dek, wallet_id), aad, body_plain)
