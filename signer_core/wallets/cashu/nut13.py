"""NUT-13 deterministic secrets and blinding factors, from the wallet's BIP-39 seed.

- keyset version 01 (what nutshell >= 0.20 issues): HMAC-SHA256 KDF,
  ``secret = HMAC(seed, "Cashu_KDF_HMAC_SHA256" || id || counter_be64 || 00)``,
  ``r = HMAC(..., 01) mod n``;
- keyset version 00 (legacy): BIP-32 path ``m/129372'/0'/{id_int}'/{counter}'/0|1``.

The secret is used as its lowercase hex string (what the mint sees and hashes to the curve).
BIP-32 private derivation is a few lines of HMAC-SHA512 and one generator multiplication,
so no bip32 library.
"""

from __future__ import annotations

import hashlib
import hmac

from signer_core.crypto import ec
from signer_core.wallets.cashu.dhke import CURVE_ORDER

HMAC_KDF_TAG = b"Cashu_KDF_HMAC_SHA256"
PURPOSE = 129372  # UTF-8 for the peanut emoji
HARDENED = 0x80000000


class DerivationError(ValueError):
    """A keyset id this wallet cannot derive secrets for."""


def keyset_id_int(keyset_id: str) -> int:
    """The legacy integer form of a keyset id (first 8 bytes for version 01 ids)."""
    raw = bytes.fromhex(keyset_id)
    if keyset_id.startswith("01"):
        raw = raw[:8]
    return int.from_bytes(raw, "big") % (2**31 - 1)


# --- BIP-32 (private derivation only) -------------------------------------------------


def _master(seed: bytes) -> tuple[int, bytes]:
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key = int.from_bytes(digest[:32], "big")
    if not 0 < key < CURVE_ORDER:
        raise DerivationError("invalid BIP-32 master key")  # pragma: no cover
    return key, digest[32:]


def _child(key: int, chain: bytes, index: int) -> tuple[int, bytes]:
    if index >= HARDENED:
        data = b"\x00" + key.to_bytes(32, "big")
    else:
        data = ec.mul_g(key.to_bytes(32, "big")).compressed()
    digest = hmac.new(chain, data + index.to_bytes(4, "big"), hashlib.sha512).digest()
    tweak = int.from_bytes(digest[:32], "big")
    child = (tweak + key) % CURVE_ORDER
    if tweak >= CURVE_ORDER or child == 0:
        raise DerivationError("invalid BIP-32 child; skip this index")  # pragma: no cover
    return child, digest[32:]


def bip32_private_key(seed: bytes, path: list[int]) -> bytes:
    """The private key at ``path`` (indexes with HARDENED set where hardened)."""
    key, chain = _master(seed)
    for index in path:
        key, chain = _child(key, chain, index)
    return key.to_bytes(32, "big")


class SecretDeriver:
    """Derives (secret_hex, r) pairs for one seed; caches the per-keyset BIP-32 node."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) < 16:
            raise DerivationError("seed too short")
        self._seed = seed
        self._nodes: dict[str, tuple[int, bytes]] = {}

    def derive(self, keyset_id: str, counter: int) -> tuple[str, bytes]:
        """(secret as hex string, blinding factor r as 32 bytes) for this keyset and counter."""
        if counter < 0:
            raise DerivationError("negative counter")
        version = keyset_id[:2]
        if version == "01":
            return self._derive_hmac(keyset_id, counter)
        if version == "00":
            return self._derive_bip32(keyset_id, counter)
        raise DerivationError(f"unsupported keyset id version {version!r}")

    def _derive_hmac(self, keyset_id: str, counter: int) -> tuple[str, bytes]:
        message = HMAC_KDF_TAG + bytes.fromhex(keyset_id) + counter.to_bytes(8, "big")
        secret = hmac.new(self._seed, message + b"\x00", hashlib.sha256).digest()
        r_digest = hmac.new(self._seed, message + b"\x01", hashlib.sha256).digest()
        r = int.from_bytes(r_digest, "big") % CURVE_ORDER
        if r == 0:
            raise DerivationError("derived r == 0")  # pragma: no cover - probability 2^-256
        return secret.hex(), r.to_bytes(32, "big")

    def _derive_bip32(self, keyset_id: str, counter: int) -> tuple[str, bytes]:
        node = self._nodes.get(keyset_id)
        if node is None:
            key, chain = _master(self._seed)
            for index in (PURPOSE | HARDENED, HARDENED, keyset_id_int(keyset_id) | HARDENED):
                key, chain = _child(key, chain, index)
            node = self._nodes[keyset_id] = (key, chain)
        key, chain = _child(node[0], node[1], counter | HARDENED)
        secret, _ = _child(key, chain, 0)
        r, _ = _child(key, chain, 1)
        return secret.to_bytes(32, "big").hex(), r.to_bytes(32, "big")
