"""NIP-04 encrypted direct messages, kept for NWC clients that have not moved to NIP-44.

AES-256-CBC with PKCS#7, key = the unhashed 32-byte ECDH x coordinate, content
``base64(ciphertext) + "?iv=" + base64(iv)``. NIP-04 has no MAC (it is malleable and open to
padding oracles), so every decryption failure gives the same ``Nip04Error`` and callers should
prefer NIP-44. AES comes from ``signer_core.crypto.ciphers`` (pycryptodome's, imported on
first use to keep module import cheap, or the pure-Python one).
"""

from __future__ import annotations

import base64
import binascii
import os

from signer_core.crypto.ciphers import aes_cbc_decrypt, aes_cbc_encrypt
from signer_core.crypto.secp import InvalidKey, ecdh_x

__all__ = ["DEFAULT_MAX_PAYLOAD_LEN", "Nip04Error", "decrypt", "encrypt", "shared_key"]

_BLOCK = 16
_SEPARATOR = "?iv="
# NWC messages are small; this bounds the work a hostile payload can cause.
DEFAULT_MAX_PAYLOAD_LEN = 4 * 1024 * 1024


class Nip04Error(ValueError):
    """Any NIP-04 failure: bad key, malformed payload, or undecryptable ciphertext."""


def shared_key(privkey: bytes, xonly_pub: bytes) -> bytes:
    """The NIP-04 AES key: ECDH x coordinate, deliberately not hashed (as the NIP specifies)."""
    try:
        return ecdh_x(privkey, xonly_pub)
    except InvalidKey as exc:
        raise Nip04Error(f"invalid key: {exc}") from exc


def encrypt(plaintext: str, privkey: bytes, xonly_pub: bytes, iv: bytes | None = None) -> str:
    """Encrypt to ``xonly_pub``; ``iv`` is random unless given (tests only)."""
    if iv is None:
        iv = os.urandom(_BLOCK)
    if len(iv) != _BLOCK:
        raise Nip04Error("iv must be 16 bytes")
    try:
        data = plaintext.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Nip04Error("plaintext is not encodable as UTF-8") from exc
    pad_len = _BLOCK - len(data) % _BLOCK
    data += bytes([pad_len]) * pad_len
    ciphertext = aes_cbc_encrypt(shared_key(privkey, xonly_pub), iv, data)
    return (
        base64.b64encode(ciphertext).decode("ascii")
        + _SEPARATOR
        + base64.b64encode(iv).decode("ascii")
    )


def _b64(value: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Nip04Error(f"invalid base64 in {what}") from exc


def decrypt(
    payload: str,
    privkey: bytes,
    xonly_pub: bytes,
    *,
    max_payload_len: int = DEFAULT_MAX_PAYLOAD_LEN,
) -> str:
    """Decrypt a ``base64?iv=base64`` payload from ``xonly_pub``; Nip04Error on anything wrong."""
    if not isinstance(payload, str):
        raise Nip04Error("payload must be a string")
    if len(payload) > max_payload_len:
        raise Nip04Error(f"payload too long ({len(payload)} chars, limit {max_payload_len})")
    parts = payload.split(_SEPARATOR)
    if len(parts) != 2:
        raise Nip04Error("payload must look like '<base64>?iv=<base64>'")
    ciphertext = _b64(parts[0], "ciphertext")
    iv = _b64(parts[1], "iv")
    if len(iv) != _BLOCK:
        raise Nip04Error("iv must be 16 bytes")
    if not ciphertext or len(ciphertext) % _BLOCK:
        raise Nip04Error("ciphertext length must be a positive multiple of 16")
    key = shared_key(privkey, xonly_pub)
    padded = aes_cbc_decrypt(key, iv, ciphertext)
    pad_len = padded[-1]
    # One message for padding and UTF-8 failures: no hints for a padding oracle.
    if not 1 <= pad_len <= _BLOCK or padded[-pad_len:] != bytes([pad_len]) * pad_len:
        raise Nip04Error("decryption failed")
    try:
        return padded[:-pad_len].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Nip04Error("decryption failed") from exc
