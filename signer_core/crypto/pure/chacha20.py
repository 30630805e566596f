# ruff: noqa: E702  (the unrolled quarter rounds keep one step per line)
"""ChaCha20 (RFC 8439: 256-bit key, 96-bit nonce, 32-bit block counter) in pure Python.

The quarter rounds are unrolled over local variables: a loop over a state list would be
about twice as slow in CPython. Not constant time (see docs/cloudflare.md "Crypto").
"""

from __future__ import annotations

import struct

__all__ = ["chacha20", "chacha20_block"]

_M = 0xFFFFFFFF
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"


def chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes:
    """One 64-byte keystream block (RFC 8439 section 2.3)."""
    return _block(struct.unpack("<8I", key), counter, struct.unpack("<3I", nonce))


def _block(k: tuple[int, ...], counter: int, n: tuple[int, ...]) -> bytes:
    x0, x1, x2, x3 = _SIGMA
    x4, x5, x6, x7, x8, x9, x10, x11 = k
    x12 = counter
    x13, x14, x15 = n
    for _ in range(10):
        # column rounds
        x0 = (x0 + x4) & _M; x12 ^= x0; x12 = ((x12 << 16) & _M) | (x12 >> 16)
        x8 = (x8 + x12) & _M; x4 ^= x8; x4 = ((x4 << 12) & _M) | (x4 >> 20)
        x0 = (x0 + x4) & _M; x12 ^= x0; x12 = ((x12 << 8) & _M) | (x12 >> 24)
        x8 = (x8 + x12) & _M; x4 ^= x8; x4 = ((x4 << 7) & _M) | (x4 >> 25)
        x1 = (x1 + x5) & _M; x13 ^= x1; x13 = ((x13 << 16) & _M) | (x13 >> 16)
        x9 = (x9 + x13) & _M; x5 ^= x9; x5 = ((x5 << 12) & _M) | (x5 >> 20)
        x1 = (x1 + x5) & _M; x13 ^= x1; x13 = ((x13 << 8) & _M) | (x13 >> 24)
        x9 = (x9 + x13) & _M; x5 ^= x9; x5 = ((x5 << 7) & _M) | (x5 >> 25)
        x2 = (x2 + x6) & _M; x14 ^= x2; x14 = ((x14 << 16) & _M) | (x14 >> 16)
        x10 = (x10 + x14) & _M; x6 ^= x10; x6 = ((x6 << 12) & _M) | (x6 >> 20)
        x2 = (x2 + x6) & _M; x14 ^= x2; x14 = ((x14 << 8) & _M) | (x14 >> 24)
        x10 = (x10 + x14) & _M; x6 ^= x10; x6 = ((x6 << 7) & _M) | (x6 >> 25)
        x3 = (x3 + x7) & _M; x15 ^= x3; x15 = ((x15 << 16) & _M) | (x15 >> 16)
        x11 = (x11 + x15) & _M; x7 ^= x11; x7 = ((x7 << 12) & _M) | (x7 >> 20)
        x3 = (x3 + x7) & _M; x15 ^= x3; x15 = ((x15 << 8) & _M) | (x15 >> 24)
        x11 = (x11 + x15) & _M; x7 ^= x11; x7 = ((x7 << 7) & _M) | (x7 >> 25)
        # diagonal rounds
        x0 = (x0 + x5) & _M; x15 ^= x0; x15 = ((x15 << 16) & _M) | (x15 >> 16)
        x10 = (x10 + x15) & _M; x5 ^= x10; x5 = ((x5 << 12) & _M) | (x5 >> 20)
        x0 = (x0 + x5) & _M; x15 ^= x0; x15 = ((x15 << 8) & _M) | (x15 >> 24)
        x10 = (x10 + x15) & _M; x5 ^= x10; x5 = ((x5 << 7) & _M) | (x5 >> 25)
        x1 = (x1 + x6) & _M; x12 ^= x1; x12 = ((x12 << 16) & _M) | (x12 >> 16)
        x11 = (x11 + x12) & _M; x6 ^= x11; x6 = ((x6 << 12) & _M) | (x6 >> 20)
        x1 = (x1 + x6) & _M; x12 ^= x1; x12 = ((x12 << 8) & _M) | (x12 >> 24)
        x11 = (x11 + x12) & _M; x6 ^= x11; x6 = ((x6 << 7) & _M) | (x6 >> 25)
        x2 = (x2 + x7) & _M; x13 ^= x2; x13 = ((x13 << 16) & _M) | (x13 >> 16)
        x8 = (x8 + x13) & _M; x7 ^= x8; x7 = ((x7 << 12) & _M) | (x7 >> 20)
        x2 = (x2 + x7) & _M; x13 ^= x2; x13 = ((x13 << 8) & _M) | (x13 >> 24)
        x8 = (x8 + x13) & _M; x7 ^= x8; x7 = ((x7 << 7) & _M) | (x7 >> 25)
        x3 = (x3 + x4) & _M; x14 ^= x3; x14 = ((x14 << 16) & _M) | (x14 >> 16)
        x9 = (x9 + x14) & _M; x4 ^= x9; x4 = ((x4 << 12) & _M) | (x4 >> 20)
        x3 = (x3 + x4) & _M; x14 ^= x3; x14 = ((x14 << 8) & _M) | (x14 >> 24)
        x9 = (x9 + x14) & _M; x4 ^= x9; x4 = ((x4 << 7) & _M) | (x4 >> 25)
    return struct.pack(
        "<16I",
        (x0 + _SIGMA[0]) & _M,
        (x1 + _SIGMA[1]) & _M,
        (x2 + _SIGMA[2]) & _M,
        (x3 + _SIGMA[3]) & _M,
        (x4 + k[0]) & _M,
        (x5 + k[1]) & _M,
        (x6 + k[2]) & _M,
        (x7 + k[3]) & _M,
        (x8 + k[4]) & _M,
        (x9 + k[5]) & _M,
        (x10 + k[6]) & _M,
        (x11 + k[7]) & _M,
        (x12 + counter) & _M,
        (x13 + n[0]) & _M,
        (x14 + n[1]) & _M,
        (x15 + n[2]) & _M,
    )


def chacha20(key: bytes, nonce: bytes, data: bytes, counter: int = 0) -> bytes:
    """data XOR the keystream starting at block ``counter`` (NIP-44 uses counter 0)."""
    if len(key) != 32 or len(nonce) != 12:
        raise ValueError("ChaCha20 needs a 32-byte key and a 12-byte nonce")
    if not data:
        return b""
    blocks = (len(data) + 63) // 64
    if counter + blocks > 1 << 32:
        raise ValueError("ChaCha20 block counter would overflow")
    k = struct.unpack("<8I", key)
    n = struct.unpack("<3I", nonce)
    stream = b"".join(_block(k, counter + i, n) for i in range(blocks))
    size = len(data)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:size], "little")
    return mixed.to_bytes(size, "little")
