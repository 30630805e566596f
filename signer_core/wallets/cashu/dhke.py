"""Blind Diffie-Hellman key exchange (NUT-00) and DLEQ proofs (NUT-12).

Points are ``signer_core.crypto.ec.Point`` values (native libsecp256k1 or pure Python, the
same answers); scalars are 32-byte big-endian strings.
A Cashu secret is the UTF-8 string the wallet made (hex for NUT-13 secrets) and
``hash_to_curve`` hashes its UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac

from signer_core.crypto import ec
from signer_core.crypto.ec import Point

DOMAIN_SEPARATOR = b"Secp256k1_HashToCurve_Cashu_"
DLEQ_NONCE_TAG = b"Cashu_DLEQ_R_v1"
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class DhkeError(ValueError):
    """Malformed point or scalar, or a signature that does not verify."""


def point(hex_or_bytes: str | bytes) -> Point:
    """A curve point from its SEC1 encoding (hex string or bytes)."""
    try:
        return ec.parse(hex_or_bytes)
    except (ValueError, TypeError) as exc:
        raise DhkeError("not a valid secp256k1 point") from exc


def point_hex(p: Point) -> str:
    return p.compressed().hex()


def scalar(value: int) -> bytes:
    """A non-zero scalar mod n as 32 bytes."""
    value %= CURVE_ORDER
    if value == 0:
        raise DhkeError("zero scalar")
    return value.to_bytes(32, "big")


def hash_to_curve(message: bytes) -> Point:
    """NUT-00: Y = Point(02 || SHA256(SHA256(DST || x) || counter_le32)), first valid."""
    msg_hash = hashlib.sha256(DOMAIN_SEPARATOR + message).digest()
    for counter in range(2**16):
        candidate = hashlib.sha256(msg_hash + counter.to_bytes(4, "little")).digest()
        found = ec.try_parse(b"\x02" + candidate)
        if found is not None:  # else not an x coordinate on the curve: next counter
            return found
    raise DhkeError("no valid point found")  # pragma: no cover - probability ~2^-65536


def secret_point(secret: str) -> Point:
    """Y of a proof secret (the string form the mint sees)."""
    return hash_to_curve(secret.encode("utf-8"))


def blind(secret: str, r: bytes) -> Point:
    """B_ = Y + r*G."""
    return ec.add(secret_point(secret), ec.mul_g(r))


def unblind(c_blind: Point, r: bytes, mint_key: Point) -> Point:
    """C = C_ - r*K."""
    return ec.sub(c_blind, ec.mul(mint_key, r))


def hash_e(*points: Point) -> bytes:
    """NUT-12 challenge: SHA256 over the concatenated uncompressed hex encodings."""
    joined = "".join(p.uncompressed().hex() for p in points)
    return hashlib.sha256(joined.encode("utf-8")).digest()


def verify_dleq(
    b_blind: Point, c_blind: Point, e: bytes, s: bytes, mint_key: Point
) -> bool:
    """Alice's check of a BlindSignature: R1 = s*G - e*A, R2 = s*B_ - e*C_, e == hash(...)."""
    if len(e) != 32 or len(s) != 32:
        return False
    try:
        r1 = ec.sub(ec.mul_g(s), ec.mul(mint_key, e))
        r2 = ec.sub(ec.mul(b_blind, s), ec.mul(c_blind, e))
    except Exception:  # zero/out-of-range scalars or the point at infinity: invalid proof
        return False
    return hmac.compare_digest(hash_e(r1, r2, mint_key, c_blind), e)


def verify_proof_dleq(
    secret: str, c: Point, e: bytes, s: bytes, r: bytes, mint_key: Point
) -> bool:
    """Carol's check of a Proof carrying (e, s, r): rebuild B_ and C_, then verify_dleq."""
    try:
        b_blind = blind(secret, r)
        c_blind = ec.add(c, ec.mul(mint_key, r))
    except Exception:
        return False
    return verify_dleq(b_blind, c_blind, e, s, mint_key)


def sign_blinded(b_blind: Point, mint_secret: bytes) -> tuple[Point, bytes, bytes]:
    """The mint's side (C_ = a*B_ plus a DLEQ proof with NUT-12's deterministic nonce).

    The wallet never signs; this exists to test the verification against known keys.
    """
    a = int.from_bytes(mint_secret, "big")
    c_blind = ec.mul(b_blind, mint_secret)
    mint_key = ec.mul_g(mint_secret)
    unc = [p.uncompressed() for p in (mint_key, b_blind, c_blind)]
    for ctr in range(256):
        nonce = hmac.new(
            mint_secret, DLEQ_NONCE_TAG + b"".join(unc) + bytes([ctr]), hashlib.sha256
        ).digest()
        r = int.from_bytes(nonce, "big")
        if 0 < r < CURVE_ORDER:
            break
    else:  # pragma: no cover
        raise DhkeError("no DLEQ nonce")
    r_bytes = r.to_bytes(32, "big")
    e = hash_e(ec.mul_g(r_bytes), ec.mul(b_blind, r_bytes), mint_key, c_blind)
    s = scalar(r + int.from_bytes(e, "big") * a)
    return c_blind, e, s


def public_key_of(secret: bytes) -> Point:
    return ec.mul_g(secret)
