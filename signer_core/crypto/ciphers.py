"""Symmetric ciphers behind one interface: ChaCha20 (NIP-44), AES-256-CBC (NIP-04) and
AES-256-GCM (the vault), native (pycryptodome) or pure Python as ``backend`` picks.

Arguments are checked here, so both backends see the same valid inputs and every caller gets
the same ``ValueError`` for a bad length whichever backend runs.
"""

from __future__ import annotations

from signer_core.crypto import backend as _backend

__all__ = [
    "GCM_NONCE_LEN",
    "GCM_TAG_LEN",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "chacha20",
]

GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16


def _check_key(key: bytes) -> None:
    if len(key) != 32:
        raise ValueError("key must be 32 bytes")


def chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """RFC 8439 ChaCha20 keystream XOR data: 12-byte nonce, block counter starting at 0."""
    _check_key(key)
    if len(nonce) != 12:
        raise ValueError("ChaCha20 nonce must be 12 bytes")
    return _backend.ciphers().chacha20(key, nonce, data)


def _check_cbc(key: bytes, iv: bytes, data: bytes) -> None:
    _check_key(key)
    if len(iv) != 16:
        raise ValueError("iv must be 16 bytes")
    if len(data) % 16:
        raise ValueError("CBC data must be whole 16-byte blocks")


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-256-CBC without padding: the caller pads (NIP-04 uses PKCS#7)."""
    _check_cbc(key, iv, data)
    return _backend.ciphers().aes_cbc_encrypt(key, iv, data)


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-256-CBC decryption without unpadding: the caller checks the padding."""
    _check_cbc(key, iv, data)
    return _backend.ciphers().aes_cbc_decrypt(key, iv, data)


def _check_gcm(key: bytes, nonce: bytes) -> None:
    _check_key(key)
    if len(nonce) != GCM_NONCE_LEN:
        raise ValueError("GCM nonce must be 12 bytes")


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """AES-256-GCM: ciphertext || 16-byte tag. Never reuse a (key, nonce) pair."""
    _check_gcm(key, nonce)
    return _backend.ciphers().aes_gcm_encrypt(key, nonce, plaintext, aad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes | None:
    """The plaintext of ciphertext || tag, or None when authentication fails."""
    _check_gcm(key, nonce)
    return _backend.ciphers().aes_gcm_decrypt(key, nonce, sealed, aad)
