"""NIP-44 v2 encrypted payloads (what NWC requests and responses are sealed with).

Follows nostr-protocol/nips 44.md including the 2026 extended length prefix (nips PR #1907):
plaintexts of 65536 bytes or more carry ``00 00`` followed by a big-endian u32 length instead
of the u16 one; shorter plaintexts are byte-for-byte the classic format.

Only stdlib (hmac, hashlib, base64) plus ChaCha20 from ``signer_core.crypto.ciphers``
(pycryptodome's, imported on first use so that merely importing this module stays cheap on a
cold start, or the pure-Python one). Every failure is a
``Nip44Error``; decrypt checks the MAC (constant time) before it decrypts anything and never
hands back partial plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from signer_core.crypto.ciphers import chacha20 as _chacha20
from signer_core.crypto.hkdf import hkdf_expand, hkdf_extract
from signer_core.crypto.secp import InvalidKey, ecdh_x

__all__ = [
    "DEFAULT_MAX_PLAINTEXT_LEN",
    "EXTENDED_PREFIX_THRESHOLD",
    "MAX_PLAINTEXT_LEN",
    "MIN_PLAINTEXT_LEN",
    "Nip44Error",
    "calc_padded_len",
    "decrypt",
    "encrypt",
    "get_conversation_key",
    "get_message_keys",
    "pad",
    "unpad",
]

VERSION = 2
SALT = b"nip44-v2"
MIN_PLAINTEXT_LEN = 1
MAX_PLAINTEXT_LEN = 0xFFFFFFFF  # u32 with the extended prefix
EXTENDED_PREFIX_THRESHOLD = 65536  # lengths >= this use the 6-byte prefix
# The spec leaves the upper bound of what to *accept* to implementations. 4 MiB is far beyond
# any NWC message and keeps a hostile payload from costing a Lambda its memory.
DEFAULT_MAX_PLAINTEXT_LEN = 4 * 1024 * 1024

_MIN_PAYLOAD_CHARS = 132  # base64 of the smallest raw payload (99 bytes)
_MIN_RAW_LEN = 99  # version 1 + nonce 32 + (2 + 32) padded + mac 32
_OVERHEAD = 1 + 32 + 32  # version, nonce, mac
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Nip44Error(ValueError):
    """Any NIP-44 failure: bad key, bad payload, bad MAC, bad padding, bad length."""


def get_conversation_key(privkey: bytes, xonly_pub: bytes) -> bytes:
    """HKDF-extract(salt "nip44-v2", unhashed ECDH x): the same for both sides of a pair."""
    # Check the scalar first so a bad private key is reported as such, whatever the pubkey.
    if len(privkey) != 32 or not 0 < int.from_bytes(privkey, "big") < _CURVE_ORDER:
        raise Nip44Error("invalid private key: must be 32 bytes in [1, n-1]")
    try:
        shared_x = ecdh_x(privkey, xonly_pub)
    except InvalidKey as exc:
        raise Nip44Error(f"invalid key for conversation key: {exc}") from exc
    return hkdf_extract(SALT, shared_x)


def get_message_keys(conversation_key: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    """Per-message (chacha_key 32, chacha_nonce 12, hmac_key 32) from HKDF-expand to 76 bytes."""
    if len(conversation_key) != 32:
        raise Nip44Error("conversation key must be 32 bytes")
    if len(nonce) != 32:
        raise Nip44Error("nonce must be 32 bytes")
    keys = hkdf_expand(conversation_key, nonce, 76)
    return keys[0:32], keys[32:44], keys[44:76]


def calc_padded_len(unpadded_len: int) -> int:
    """Padded size (without prefix): 32 minimum, then power-of-two-based chunks."""
    if unpadded_len < MIN_PLAINTEXT_LEN:
        raise Nip44Error("plaintext length must be at least 1")
    if unpadded_len <= 32:
        return 32
    next_power = 1 << (unpadded_len - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((unpadded_len - 1) // chunk + 1)


def _prefix_len(unpadded_len: int) -> int:
    return 6 if unpadded_len >= EXTENDED_PREFIX_THRESHOLD else 2


def pad(plaintext: str) -> bytes:
    """Length prefix (u16, or 00 00 + u32 from 65536 bytes on), UTF-8 plaintext, zero padding."""
    try:
        unpadded = plaintext.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Nip44Error("plaintext is not encodable as UTF-8") from exc
    n = len(unpadded)
    if n < MIN_PLAINTEXT_LEN or n > MAX_PLAINTEXT_LEN:
        raise Nip44Error(
            f"invalid plaintext length {n}: must be {MIN_PLAINTEXT_LEN}..{MAX_PLAINTEXT_LEN} bytes"
        )
    if n >= EXTENDED_PREFIX_THRESHOLD:
        prefix = b"\x00\x00" + n.to_bytes(4, "big")
    else:
        prefix = n.to_bytes(2, "big")
    return prefix + unpadded + bytes(calc_padded_len(n) - n)


def unpad(padded: bytes) -> str:
    """Inverse of pad; rejects any length prefix that disagrees with the padded size."""
    return _utf8(_unpad_bytes(padded))


def _utf8(unpadded: bytes) -> str:
    try:
        return unpadded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Nip44Error("plaintext is not valid UTF-8") from exc


def _unpad_bytes(padded: bytes) -> bytes:
    if len(padded) < 2 + 32:
        raise Nip44Error("invalid padding: too short")
    first = int.from_bytes(padded[0:2], "big")
    if first == 0:
        n = int.from_bytes(padded[2:6], "big")
        if n < EXTENDED_PREFIX_THRESHOLD:
            raise Nip44Error("invalid padding: non-canonical extended length prefix")
        prefix_len = 6
    else:
        n = first
        prefix_len = 2
    unpadded = padded[prefix_len : prefix_len + n]
    if len(unpadded) != n or len(padded) != prefix_len + calc_padded_len(n):
        raise Nip44Error("invalid padding: length prefix does not match padded size")
    return unpadded


def _hmac_aad(key: bytes, message: bytes, aad: bytes) -> bytes:
    return hmac.new(key, aad + message, hashlib.sha256).digest()


def encrypt(plaintext: str, conversation_key: bytes, nonce: bytes | None = None) -> str:
    """base64(0x02 || nonce || chacha20(pad(plaintext)) || hmac); nonce random unless given."""
    if nonce is None:
        nonce = os.urandom(32)
    chacha_key, chacha_nonce, hmac_key = get_message_keys(conversation_key, nonce)
    ciphertext = _chacha20(chacha_key, chacha_nonce, pad(plaintext))
    mac = _hmac_aad(hmac_key, ciphertext, nonce)
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode("ascii")


def _max_payload_chars(max_plaintext_len: int) -> int:
    raw = _OVERHEAD + _prefix_len(max_plaintext_len) + calc_padded_len(max_plaintext_len)
    return 4 * ((raw + 2) // 3)


def decrypt(
    payload: str,
    conversation_key: bytes,
    *,
    max_plaintext_len: int = DEFAULT_MAX_PLAINTEXT_LEN,
) -> str:
    """Check version, sizes and MAC (before decrypting), then decrypt and unpad.

    ``max_plaintext_len`` bounds what we are willing to decode (the protocol allows 4 GiB);
    the payload's size is checked against it before base64 decoding.
    """
    if not isinstance(payload, str):
        raise Nip44Error("payload must be a string")
    if len(payload) == 0 or payload[0] == "#":
        raise Nip44Error("unknown encryption version (not base64 / not supported)")
    if len(payload) < _MIN_PAYLOAD_CHARS:
        raise Nip44Error(f"invalid payload length {len(payload)}: minimum is {_MIN_PAYLOAD_CHARS}")
    limit = min(max(max_plaintext_len, MIN_PLAINTEXT_LEN), MAX_PLAINTEXT_LEN)
    if len(payload) > _max_payload_chars(limit):
        raise Nip44Error(
            f"payload too long ({len(payload)} chars) for a plaintext limit of {limit} bytes"
        )
    try:
        data = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Nip44Error("invalid base64 in payload") from exc
    if len(data) < _MIN_RAW_LEN:
        raise Nip44Error(f"invalid decoded payload length {len(data)}: minimum is {_MIN_RAW_LEN}")
    if data[0] != VERSION:
        raise Nip44Error(f"unknown encryption version {data[0]}")
    nonce = data[1:33]
    ciphertext = data[33:-32]
    mac = data[-32:]
    chacha_key, chacha_nonce, hmac_key = get_message_keys(conversation_key, nonce)
    if not hmac.compare_digest(_hmac_aad(hmac_key, ciphertext, nonce), mac):
        raise Nip44Error("invalid MAC")
    unpadded = _unpad_bytes(_chacha20(chacha_key, chacha_nonce, ciphertext))
    if len(unpadded) > limit:
        raise Nip44Error(f"plaintext of {len(unpadded)} bytes exceeds the limit of {limit}")
    return _utf8(unpadded)
