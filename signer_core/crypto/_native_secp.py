"""The native secp256k1 backend: coincurve (libsecp256k1, constant time).

Same functions, arguments and errors as ``signer_core.crypto.pure.secp256k1``. Points cross
the boundary as ``Point`` (affine integers) and enter libsecp256k1 uncompressed, which costs
one curve-equation check, not a square root.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

from signer_core.crypto._types import InvalidKey, Point, scalar_from_bytes

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


def schnorr_sign(message32: bytes, secret: bytes, aux32: bytes) -> bytes:
    if len(message32) != 32 or len(aux32) != 32:
        raise ValueError("message and aux must be 32 bytes")
    return bytes(_priv(secret).sign_schnorr(message32, aux32))


def schnorr_verify(message32: bytes, signature: bytes, xonly: bytes) -> bool:
    if len(message32) != 32 or len(signature) != 64 or len(xonly) != 32:
        return False
    try:
        return bool(PublicKeyXOnly(xonly).verify(signature, message32))
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
