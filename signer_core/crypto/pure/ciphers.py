"""The pure cipher backend: the same functions as ``signer_core.crypto._native_ciphers``."""

from __future__ import annotations

from signer_core.crypto.pure.aes import cbc_decrypt as aes_cbc_decrypt
from signer_core.crypto.pure.aes import cbc_encrypt as aes_cbc_encrypt
from signer_core.crypto.pure.chacha20 import chacha20 as _chacha20
from signer_core.crypto.pure.gcm import gcm_decrypt as aes_gcm_decrypt
from signer_core.crypto.pure.gcm import gcm_encrypt as aes_gcm_encrypt

__all__ = [
    "NAME",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "chacha20",
]

NAME = "pure"


def chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """RFC 8439 ChaCha20 from block counter 0 (what NIP-44 uses)."""
    return _chacha20(key, nonce, data)
