"""Blind Diffie-Hellman key exchange (NUT-00) and DLEQ proofs (NUT-12) on coincurve.

Points are coincurve ``PublicKey`` objects; scalars are 32-byte big-endian strings.
A Cashu secret is the UTF-8 string the wallet made (hex for NUT-13 secrets) and
``hash_to_curve`` hashes its UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac

from coincurve import PrivateKey, PublicKey

DOMAIN_SEPARATOR = b"Secp256k1_HashToCurve_Cashu_"
DLEQ_NONCE_TAG = b"Cashu_DLEQ_R_v1"
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class DhkeError(ValueError):
    """Malformed point or scalar, or a signature that does not verify."""


def point(hex_or_bytes: str | bytes) -> PublicKey:
    """A curve point from its SEC1 encoding (hex string or bytes)."""
    try:
        raw = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
        return PublicKey(raw)
    except Exception as exc:  # coincurve raises ValueError/TypeError on bad encodings
        raise DhkeError("not a valid secp256k1 point") from exc


def point_hex(p: PublicKey) -> str:
    return bytes(p.format(compressed=True)).hex()


def scalar(value: int) -> bytes:
    """A non-zero scalar mod n as 32 bytes."""
    value %= CURVE_ORDER
    if value == 0:
        raise DhkeError("zero scalar")
    return value.to_bytes(32, "big")


def _neg(p: PublicKey) -> PublicKey:
    raw = bytes(p.format(compressed=True))
    return PublicKey(bytes([raw[0] ^ 0x01]) + raw[1:])  # 02 <-> 03 flips y


def _add(p: PublicKey, q: PublicKey) -> PublicKey:
    return PublicKey.combine_keys([p, q])


def _sub(p: PublicKey, q: PublicKey) -> PublicKey:
    return _add(p, _neg(q))


def _mul_g(k: bytes) -> PublicKey:
    return PublicKey.from_valid_secret(k)


def hash_to_curve(message: bytes) -> PublicKey:
    """NUT-00: Y = PublicKey(02 || SHA256(SHA256(DST || x) || counter_le32)), first valid."""
    msg_hash = hashlib.sha256(DOMAIN_SEPARATOR + message).digest()
    for counter in range(2**16):
        candidate = hashlib.sha256(msg_hash + counter.to_bytes(4, "little")).digest()
        try:
            return PublicKey(b"\x02" + candidate)
        except Exception:  # noqa: S112 - not an x coordinate on the curve: next counter
            continue
    raise DhkeError("no valid point found")  # pragma: no cover - probability ~2^-65536


def secret_point(secret: str) -> PublicKey:
    """Y of a proof secret (the string form the mint sees)."""
    return hash_to_curve(secret.encode("utf-8"))


def blind(secret: str, r: bytes) -> PublicKey:
    """B_ = Y + r*G."""
    return _add(secret_point(secret), _mul_g(r))


def unblind(c_blind: PublicKey, r: bytes, mint_key: PublicKey) -> PublicKey:
    """C = C_ - r*K."""
    return _sub(c_blind, mint_key.multiply(r))


def hash_e(*points: PublicKey) -> bytes:
    """NUT-12 challenge: SHA256 over the concatenated uncompressed hex encodings."""
    joined = "".join(bytes(p.format(compressed=False)).hex() for p in points)
    return hashlib.sha256(joined.encode("utf-8")).digest()


def verify_dleq(
    b_blind: PublicKey, c_blind: PublicKey, e: bytes, s: bytes, mint_key: PublicKey
) -> bool:
    """Alice's check of a BlindSignature: R1 = s*G - e*A, R2 = s*B_ - e*C_, e == hash(...)."""
    if len(e) != 32 or len(s) != 32:
        return False
    try:
        r1 = _sub(_mul_g(s), mint_key.multiply(e))
        r2 = _sub(b_blind.multiply(s), c_blind.multiply(e))
    except Exception:  # zero/out-of-range scalars or the point at infinity: invalid proof
        return False
    return hmac.compare_digest(hash_e(r1, r2, mint_key, c_blind), e)


def verify_proof_dleq(
    secret: str, c: PublicKey, e: bytes, s: bytes, r: bytes, mint_key: PublicKey
) -> bool:
    """Carol's check of a Proof carrying (e, s, r): rebuild B_ and C_, then verify_dleq."""
    try:
        b_blind = blind(secret, r)
        c_blind = _add(c, mint_key.multiply(r))
    except Exception:
        return False
    return verify_dleq(b_blind, c_blind, e, s, mint_key)


def sign_blinded(b_blind: PublicKey, mint_secret: bytes) -> tuple[PublicKey, bytes, bytes]:
    """The mint's side (C_ = a*B_ plus a DLEQ proof with NUT-12's deterministic nonce).

    The wallet never signs; this exists to test the verification against known keys.
    """
    a = int.from_bytes(mint_secret, "big")
    c_blind = b_blind.multiply(mint_secret)
    mint_key = _mul_g(mint_secret)
    unc = [bytes(p.format(compressed=False)) for p in (mint_key, b_blind, c_blind)]
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
    e = hash_e(_mul_g(r_bytes), b_blind.multiply(r_bytes), mint_key, c_blind)
    s = scalar(r + int.from_bytes(e, "big") * a)
    return c_blind, e, s


def public_key_of(secret: bytes) -> PublicKey:
    return PrivateKey(secret).public_key
