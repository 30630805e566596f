"""BIP-340 Schnorr, x-only ECDH and the point API on pure-Python secp256k1 (``curve``).

The same functions, arguments and errors as ``signer_core.crypto._native_secp``; callers go
through ``signer_core.crypto.secp`` / ``signer_core.crypto.ec``, which pick the backend.
"""

from __future__ import annotations

import hashlib

from signer_core.crypto.point import InvalidKey, N, P, Point, scalar_from_bytes
from signer_core.crypto.pure import curve

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

NAME = "pure"
_SQRT_EXP = (P + 1) // 4  # p = 3 mod 4


def _tagged(tag: str) -> hashlib._Hash:
    digest = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(digest + digest)


# Midstates of the three BIP-340 tagged hashes (deterministic: fine to build at import).
_AUX = _tagged("BIP0340/aux")
_NONCE = _tagged("BIP0340/nonce")
_CHALLENGE = _tagged("BIP0340/challenge")


def _hash(midstate: hashlib._Hash, data: bytes) -> bytes:
    h = midstate.copy()
    h.update(data)
    return h.digest()


def _affine(pt: curve.Jac) -> Point:
    xy = curve.to_affine(pt)
    if xy is None:
        raise InvalidKey("the result is the point at infinity")
    return Point(*xy)


def _lift_x_int(x: int) -> tuple[int, int] | None:
    """The even-y point with this x, or None when x is not on the curve."""
    if x >= P:
        return None
    c = (x * x * x + 7) % P
    y = pow(c, _SQRT_EXP, P)
    if y * y % P != c:
        return None
    return x, (y if y & 1 == 0 else P - y)


def xonly_pubkey(secret: bytes) -> bytes:
    """x(d*G) of a 32-byte private key in [1, n-1]."""
    d = scalar_from_bytes(secret)
    return _affine(curve.mul_g(d)).xonly()


def lift_x(xonly: bytes) -> Point:
    """The even-y point with this x coordinate (BIP-340 lift_x)."""
    if len(xonly) != 32:
        raise InvalidKey("x-only public key must be 32 bytes")
    xy = _lift_x_int(int.from_bytes(xonly, "big"))
    if xy is None:
        raise InvalidKey("x-only public key is not on the curve")
    return Point(*xy)


def schnorr_sign(message: bytes, secret: bytes, aux32: bytes) -> bytes:
    """BIP-340 Sign with the given 32 bytes of auxiliary randomness (any message length)."""
    if len(aux32) != 32:
        raise ValueError("aux must be 32 bytes")
    d0 = scalar_from_bytes(secret)
    pub = _affine(curve.mul_g(d0))
    d = d0 if pub.has_even_y else N - d0
    px = pub.xonly()
    t = (d ^ int.from_bytes(_hash(_AUX, aux32), "big")).to_bytes(32, "big")
    k0 = int.from_bytes(_hash(_NONCE, t + px + message), "big") % N
    if k0 == 0:  # pragma: no cover - probability 2^-256
        raise ValueError("BIP-340 nonce is zero")
    r = _affine(curve.mul_g(k0))
    k = k0 if r.has_even_y else N - k0
    rx = r.xonly()
    e = int.from_bytes(_hash(_CHALLENGE, rx + px + message), "big") % N
    return rx + ((k + e * d) % N).to_bytes(32, "big")


def schnorr_verify(message: bytes, signature: bytes, xonly: bytes) -> bool:
    """BIP-340 Verify (any message length); False, never an exception, for malformed input."""
    if len(signature) != 64 or len(xonly) != 32:
        return False
    pub = _lift_x_int(int.from_bytes(xonly, "big"))
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if pub is None or r >= P or s >= N:
        return False
    e = int.from_bytes(_hash(_CHALLENGE, signature[:32] + xonly + message), "big") % N
    # R = s*G - e*P
    big_r = curve.add(curve.mul_g(s), curve.mul(pub[0], P - pub[1], e))
    xy = curve.to_affine(big_r)
    return xy is not None and xy[1] & 1 == 0 and xy[0] == r


def ecdh_x(secret: bytes, xonly: bytes) -> bytes:
    """x(d * lift_x(xonly)), unhashed (NIP-04 / NIP-44)."""
    point = lift_x(xonly)
    d = scalar_from_bytes(secret)
    return _affine(curve.mul(point.x, point.y, d)).xonly()


# --- the point API ----------------------------------------------------------------------


def point_parse(data: bytes) -> Point:
    """A point from SEC1 bytes: 33-byte compressed, or 65-byte uncompressed/hybrid.

    Accepts exactly what libsecp256k1's ``ec_pubkey_parse`` accepts (coincurve
    ``PublicKey(data)``), so the Cashu hash-to-curve loop behaves the same on both backends.
    """
    if not isinstance(data, bytes | bytearray):
        raise InvalidKey("point encoding must be bytes")
    if len(data) == 33 and data[0] in (2, 3):
        xy = _lift_x_int(int.from_bytes(data[1:], "big"))
        if xy is None:
            raise InvalidKey("not a valid secp256k1 point")
        x, y = xy
        return Point(x, P - y if data[0] == 3 else y)
    if len(data) == 65 and data[0] in (4, 6, 7):
        x, y = int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")
        if data[0] != 4 and (y & 1) != (data[0] & 1):
            raise InvalidKey("not a valid secp256k1 point")
        return Point(x, y)
    raise InvalidKey("not a valid secp256k1 point")


def point_add(a: Point, b: Point) -> Point:
    """a + b; InvalidKey when the sum is the point at infinity (as coincurve combine_keys)."""
    return _affine(curve.add_mixed((a.x, a.y, 1), b.x, b.y))


def point_mul(point: Point, scalar: bytes) -> Point:
    """scalar * point for a 32-byte scalar in [1, n-1]."""
    k = scalar_from_bytes(scalar, "scalar")
    return _affine(curve.mul(point.x, point.y, k))


def point_mul_g(scalar: bytes) -> Point:
    """scalar * G for a 32-byte scalar in [1, n-1]."""
    return _affine(curve.mul_g(scalar_from_bytes(scalar, "scalar")))
