"""secp256k1 point arithmetic for protocols beyond Nostr keys (Cashu: NUT-00 BDHKE, NUT-12
DLEQ, NUT-13 BIP-32), the same under both backends.

Points are ``Point`` values (affine integers, immutable, hashable); scalars are 32-byte
big-endian strings in [1, n-1], as coincurve takes them. Every failure - a bad encoding, a
bad scalar, a sum at infinity - is an ``InvalidKey`` (a ``ValueError``), where coincurve
raised ``ValueError``. Serialization and negation need no backend: they are ``Point``
methods (``compressed()``, ``uncompressed()``, ``xonly()``, ``negate()``).
"""

from __future__ import annotations

from signer_core.crypto import backend as _backend
from signer_core.crypto.backend import GX, GY, InvalidKey, N, P, Point

__all__ = [
    "GENERATOR",
    "N",
    "P",
    "InvalidKey",
    "Point",
    "add",
    "is_on_curve",
    "lift_x",
    "mul",
    "mul_g",
    "negate",
    "parse",
    "sub",
    "try_parse",
]

GENERATOR = Point(GX, GY)


def parse(data: bytes | str) -> Point:
    """A point from SEC1 bytes or their hex: 33-byte 02/03 compressed, 65-byte 04 (or 06/07)."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data)
        except ValueError:
            raise InvalidKey("not a valid secp256k1 point") from None
    return _backend.secp().point_parse(data)


def try_parse(data: bytes) -> Point | None:
    """``parse`` or None: the step of a hash-to-curve loop (try 02 || candidate x)."""
    try:
        return _backend.secp().point_parse(data)
    except InvalidKey:
        return None


def is_on_curve(data: bytes) -> bool:
    """True when ``data`` is a valid SEC1 encoding of a point."""
    return try_parse(data) is not None


def lift_x(xonly: bytes) -> Point:
    """The even-y point with this x coordinate (BIP-340 lift_x)."""
    return _backend.secp().lift_x(xonly)


def negate(point: Point) -> Point:
    return point.negate()


def add(a: Point, b: Point) -> Point:
    """a + b (InvalidKey when it is the point at infinity, i.e. b == -a)."""
    return _backend.secp().point_add(a, b)


def sub(a: Point, b: Point) -> Point:
    """a - b (InvalidKey when a == b)."""
    return _backend.secp().point_add(a, b.negate())


def mul(point: Point, scalar: bytes) -> Point:
    """scalar * point for a 32-byte scalar in [1, n-1]."""
    return _backend.secp().point_mul(point, scalar)


def mul_g(scalar: bytes) -> Point:
    """scalar * G for a 32-byte scalar in [1, n-1] (a private key's public point)."""
    return _backend.secp().point_mul_g(scalar)
