"""secp256k1 primitives for Nostr: x-only keys, BIP-340 Schnorr and unhashed ECDH.

All keys are raw bytes: private keys 32 bytes, public keys 32-byte x-only (Nostr form).
The work is done by the backend ``signer_core.crypto.backend`` picks: coincurve
(libsecp256k1, constant time) where it imports, pure Python otherwise (Pyodide).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from signer_core.crypto import backend as _backend
from signer_core.crypto.backend import InvalidKey, Point

if TYPE_CHECKING:
    from signer_core.crypto._protocols import SecpBackend

__all__ = [
    "InvalidKey",
    "ecdh_x",
    "generate_private_key",
    "lift_x",
    "schnorr_sign",
    "schnorr_verify",
    "xonly_pubkey",
]

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Resolve now, as the coincurve import at the top of this module always did: on Lambda the
# import belongs to the init phase, not to the first request.
_backend.secp()


def generate_private_key() -> bytes:
    """A fresh random private key (rejection-samples the tiny invalid range)."""
    while True:
        candidate = os.urandom(32)
        if 0 < int.from_bytes(candidate, "big") < _N:
            return candidate


def xonly_pubkey(secret: bytes) -> bytes:
    """The 32-byte x-only public key of a private key (memoised, see `_memo`)."""
    return _xonly_memo(_backend.secp(), secret)


def lift_x(xonly: bytes) -> Point:
    """The even-y point with this x coordinate (BIP-340 lift_x)."""
    return _backend.secp().lift_x(xonly)


def schnorr_sign(message32: bytes, secret: bytes, aux: bytes | None = None) -> bytes:
    """BIP-340 signature of a 32-byte message (fresh auxiliary randomness unless given)."""
    if len(message32) != 32:
        raise ValueError("message must be 32 bytes")
    aux32 = aux if aux is not None else os.urandom(32)
    return _backend.secp().schnorr_sign(message32, secret, aux32)


def schnorr_verify(message32: bytes, signature: bytes, xonly: bytes) -> bool:
    """True when signature is a valid BIP-340 signature; never raises on malformed input."""
    if len(message32) != 32:
        return False
    return _backend.secp().schnorr_verify(message32, signature, xonly)


def ecdh_x(secret: bytes, xonly: bytes) -> bytes:
    """The unhashed 32-byte x coordinate of secret * lift_x(xonly) (what NIP-04/NIP-44 use).

    Memoised: one request needs the same shared secret three times (decrypting the request,
    unwrapping the vault's data key, encrypting the reply), and a warm instance meets the
    same connection again. That is two of a request's five scalar multiplications, which
    matters where they are pure Python (Pyodide: ~40% of a get_balance)."""
    return _ecdh_memo(_backend.secp(), secret, xonly)


# Keyed by the backend too, so switching backends (tests) never reuses the other's answers.
# The process holds the root secret anyway; these keys never leave memory.
@lru_cache(maxsize=256)
def _ecdh_memo(impl: SecpBackend, secret: bytes, xonly: bytes) -> bytes:
    return impl.ecdh_x(secret, xonly)


@lru_cache(maxsize=256)
def _xonly_memo(impl: SecpBackend, secret: bytes) -> bytes:
    return impl.xonly_pubkey(secret)
