"""secp256k1 primitives for Nostr: x-only keys, BIP-340 Schnorr and unhashed ECDH.

All keys are raw bytes: private keys 32 bytes, public keys 32-byte x-only (Nostr form).
"""

from __future__ import annotations

import os

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly


class InvalidKey(ValueError):
    """A key that is not a valid secp256k1 scalar or point."""


def _priv(secret: bytes) -> PrivateKey:
    if len(secret) != 32:
        raise InvalidKey("private key must be 32 bytes")
    try:
        return PrivateKey(secret)
    except Exception as exc:  # coincurve raises ValueError/TypeError for out-of-range keys
        raise InvalidKey("private key out of range") from exc


def generate_private_key() -> bytes:
    """A fresh random private key (rejection-samples the tiny invalid range)."""
    while True:
        candidate = os.urandom(32)
        try:
            _priv(candidate)
        except InvalidKey:
            continue
        return candidate


def xonly_pubkey(secret: bytes) -> bytes:
    """The 32-byte x-only public key of a private key."""
    return _priv(secret).public_key.format(compressed=True)[1:]


def lift_x(xonly: bytes) -> PublicKey:
    """The even-y point with this x coordinate (BIP-340 lift_x)."""
    if len(xonly) != 32:
        raise InvalidKey("x-only public key must be 32 bytes")
    try:
        return PublicKey(b"\x02" + xonly)
    except Exception as exc:
        raise InvalidKey("x-only public key is not on the curve") from exc


def schnorr_sign(message32: bytes, secret: bytes, aux: bytes | None = None) -> bytes:
    """BIP-340 signature of a 32-byte message."""
    if len(message32) != 32:
        raise ValueError("message must be 32 bytes")
    return bytes(_priv(secret).sign_schnorr(message32, aux if aux is not None else os.urandom(32)))


def schnorr_verify(message32: bytes, signature: bytes, xonly: bytes) -> bool:
    """True when signature is a valid BIP-340 signature; never raises on malformed input."""
    if len(message32) != 32 or len(signature) != 64 or len(xonly) != 32:
        return False
    try:
        return bool(PublicKeyXOnly(xonly).verify(signature, message32))
    except Exception:
        return False


def ecdh_x(secret: bytes, xonly: bytes) -> bytes:
    """The unhashed 32-byte x coordinate of secret * lift_x(xonly) (what NIP-04/NIP-44 use)."""
    point = lift_x(xonly).multiply(_priv(secret).secret)
    return bytes(point.format(compressed=True)[1:])
