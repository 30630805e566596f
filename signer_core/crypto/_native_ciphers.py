"""The native cipher backend: pycryptodome, each cipher imported on its first use.

pycryptodome costs ~30-60 ms to import here (cffi), paid only when a message or a state is
actually en/decrypted. Arguments are already checked by ``signer_core.crypto.ciphers``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NAME",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "chacha20",
]

NAME = "native"
_TAG_LEN = 16


def chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    from Crypto.Cipher import ChaCha20

    cipher: Any = ChaCha20.new(key=key, nonce=nonce)  # 12-byte nonce: RFC 8439, counter 0
    return bytes(cipher.encrypt(data))


def _cbc(key: bytes, iv: bytes) -> Any:
    from Crypto.Cipher import AES

    return AES.new(key, AES.MODE_CBC, iv=iv)


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    return bytes(_cbc(key, iv).encrypt(data))


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    return bytes(_cbc(key, iv).decrypt(data))


def _gcm(key: bytes, nonce: bytes, aad: bytes) -> Any:
    from Crypto.Cipher import AES

    cipher: Any = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_LEN)
    cipher.update(aad)
    return cipher


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    ct, tag = _gcm(key, nonce, aad).encrypt_and_digest(plaintext)
    return bytes(ct) + bytes(tag)


def aes_gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    if len(sealed) < _TAG_LEN:
        return None
    try:
        ciphertext, tag = sealed[:-_TAG_LEN], sealed[-_TAG_LEN:]
        return bytes(_gcm(key, nonce, aad).decrypt_and_verify(ciphertext, tag))
    except ValueError:
        return None
