"""The native secp256k1 backend: coincurve (libsecp256k1, constant time).

Same functions, arguments and errors as ``signer_core.crypto.pure.secp256k1``. Points cross
the boundary as ``Point`` (affine integers) and enter libsecp256k1 uncompressed, which costs
one curve-equation check, not a square root.
"""

from __future__ import annotations

import functools

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

from signer_core.crypto.point import InvalidKey, Point, scalar_from_bytes

__all__ = [
    "NAME",
    "ecdh_x",
    "lift_x",
    "point_add",
    "point_mul",
    "point_mul_g",
    "point_parse",
    "schnorr_sign",
    "schnorr_verify",
    "xonly_pubkey",
]

NAME = "native"


def _priv(secret: bytes) -> PrivateKey:
    scalar_from_bytes(secret)  # the same checks and messages as the pure backend
    return PrivateKey(secret)


@functools.lru_cache(maxsize=16)
def _signing_key(secret: bytes) -> PrivateKey:
    """The watcher signs every delivery with one key and a function every reply with a
    few: building the key (a point multiplication) was ~45% of a signature's cost."""
    return _priv(secret)


def _point(pk: PublicKey) -> Point:
    raw = bytes(pk.format(compressed=False))
    return Point(int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big"))


def _public(point: Point) -> PublicKey:
    return PublicKey(point.uncompressed())


def _lift(xonly: bytes) -> PublicKey:
    if len(xonly) != 32:
        raise InvalidKey("x-only public key must be 32 bytes")
    try:
        return PublicKey(b"\x02" + xonly)
    except Exception as exc:  # coincurve raises ValueError for x not on the curve
        raise InvalidKey("x-only public key is not on the curve") from exc


def xonly_pubkey(secret: bytes) -> bytes:
    return bytes(_priv(secret).public_key.format(compressed=True)[1:])


def lift_x(xonly: bytes) -> Point:
    return _point(_lift(xonly))


def schnorr_sign(message: bytes, secret: bytes, aux32: bytes) -> bytes:
    """BIP-340 Sign. Nostr signs 32-byte ids; other lengths (BIP-340 vectors 15-18) go
    through libsecp256k1's ``schnorrsig_sign_custom``, which coincurve does not wrap."""
    if len(aux32) != 32:
        raise ValueError("aux must be 32 bytes")
    key = _signing_key(secret)
    if len(message) == 32:
        return bytes(key.sign_schnorr(message, aux32))
    from coincurve._libsecp256k1 import ffi, lib

    keypair = ffi.new("secp256k1_keypair *")
    if not lib.secp256k1_keypair_create(key.context.ctx, keypair, key.secret):
        raise InvalidKey("private key out of range")  # pragma: no cover - checked above
    params = ffi.new("secp256k1_schnorrsig_extraparams *")
    params.magic = bytes([0xDA, 0x6F, 0xB3, 0x8C])  # SECP256K1_SCHNORRSIG_EXTRAPARAMS_MAGIC
    aux = ffi.new("unsigned char[32]", aux32)
    params.ndata = aux
    signature = ffi.new("unsigned char[64]")
    if not lib.secp256k1_schnorrsig_sign_custom(
        key.context.ctx, signature, message, len(message), keypair, params
    ):
        raise ValueError("signing failed")  # pragma: no cover
    return bytes(ffi.buffer(signature))


def schnorr_verify(message: bytes, signature: bytes, xonly: bytes) -> bool:
    if len(signature) != 64 or len(xonly) != 32:
        return False
    try:
        return bool(PublicKeyXOnly(xonly).verify(signature, message))
    except Exception:
        return False


def ecdh_x(secret: bytes, xonly: bytes) -> bytes:
    point = _lift(xonly)
    return bytes(point.multiply(_priv(secret).secret).format(compressed=True)[1:])


def point_parse(data: bytes) -> Point:
    if not isinstance(data, bytes | bytearray):
        raise InvalidKey("point encoding must be bytes")
    try:
        return _point(PublicKey(bytes(data)))
    except Exception as exc:  # coincurve raises ValueError/TypeError on bad encodings
        raise InvalidKey("not a valid secp256k1 point") from exc


def point_add(a: Point, b: Point) -> Point:
    try:
        return _point(PublicKey.combine_keys([_public(a), _public(b)]))
    except ValueError as exc:
        raise InvalidKey("the result is the point at infinity") from exc


def point_mul(point: Point, scalar: bytes) -> Point:
    scalar_from_bytes(scalar, "scalar")
    return _point(_public(point).multiply(scalar))


def point_mul_g(scalar: bytes) -> Point:
    scalar_from_bytes(scalar, "scalar")
    return _point(PublicKey.from_valid_secret(scalar))
