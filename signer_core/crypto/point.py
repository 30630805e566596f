"""The curve and its values, shared by every backend: secp256k1's constants, ``InvalidKey``
and ``Point`` (plain affine integers: a point made by one backend is valid for the other).

A module of its own so that the backends (``_native_secp``, ``pure/``) and the selector
(``backend``) all import it and none imports another: one direction, no cycle.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~4 ms cold

if TYPE_CHECKING:
    from typing import Any

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8


class InvalidKey(ValueError):
    """A key that is not a valid secp256k1 scalar or point (also: the point at infinity)."""


def scalar_from_bytes(secret: bytes, what: str = "private key") -> int:
    """A 32-byte big-endian scalar in [1, n-1], or InvalidKey."""
    if not isinstance(secret, bytes | bytearray) or len(secret) != 32:
        raise InvalidKey(f"{what} must be 32 bytes")
    k = int.from_bytes(secret, "big")
    if not 0 < k < N:
        raise InvalidKey(f"{what} out of range")
    return k


class Point:
    """An affine secp256k1 point other than infinity; immutable, hashable, backend-neutral."""

    __slots__ = ("x", "y")
    x: int
    y: int

    def __init__(self, x: int, y: int) -> None:
        if not (0 <= x < P and 0 <= y < P) or (y * y - x * x * x - 7) % P:
            raise InvalidKey("not a point on secp256k1")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Point is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and self.x == other.x and self.y == other.y

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Point({self.compressed().hex()})"

    @property
    def has_even_y(self) -> bool:
        return self.y & 1 == 0

    def negate(self) -> Point:
        """-P: same x, y -> p - y (never zero on this curve, so always a point)."""
        return Point(self.x, P - self.y)

    def xonly(self) -> bytes:
        """The 32-byte x coordinate (BIP-340 / Nostr public key form)."""
        return self.x.to_bytes(32, "big")

    def compressed(self) -> bytes:
        """SEC1 compressed: 02/03 || x (coincurve ``format(compressed=True)``)."""
        return bytes([2 | (self.y & 1)]) + self.x.to_bytes(32, "big")

    def uncompressed(self) -> bytes:
        """SEC1 uncompressed: 04 || x || y (coincurve ``format(compressed=False)``)."""
        return b"\x04" + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")
