"""AES-GCM (NIST SP 800-38D, 96-bit nonces, 16-byte tags) on the pure-Python AES.

Counter mode over many blocks is "byte-sliced": the 16 byte positions of all counter blocks
are 16 planes, and each AES step runs over a whole plane in C (``bytes.translate`` for the
S-box and xtime, big-integer XOR for MixColumns and the round keys). A 20 KB body costs
~200 C-level operations per round instead of ~1300 T-table block encryptions in Python
(about 10x faster). A few blocks (the 32-byte key wraps) use the T-tables directly.

GHASH multiplies with per-key tables: 16 of 256 entries (one per byte position) for long
inputs, 32 of 16 entries (one per nibble, 8x cheaper to build) for short ones.
"""

from __future__ import annotations

import functools
import hmac
import struct

from signer_core.crypto.pure.aes import encrypt_words, expand_key, sbox

__all__ = ["gcm_decrypt", "gcm_encrypt", "translations"]

_SLICED_FROM_BLOCKS = 8
_GHASH_BYTE_TABLES_FROM_BLOCKS = 256
_R = 0xE1 << 120
# ShiftRows on byte positions (byte k sits at row k % 4, column k // 4).
_SHIFT = tuple(4 * (((k // 4) + (k % 4)) % 4) + (k % 4) for k in range(16))
_slice_tables: tuple[bytes, bytes] | None = None


def translations() -> tuple[bytes, bytes]:
    """(S-box, xtime) as ``bytes.translate`` tables, built on first use."""
    global _slice_tables
    if _slice_tables is None:
        xtime = bytes(((x << 1) ^ 0x11B) if x & 0x80 else x << 1 for x in range(256))
        _slice_tables = bytes(sbox()), xtime
    return _slice_tables


def _keystream_sliced(rk: list[int], nonce: bytes, first: int, blocks: int) -> bytes:
    """E(K, nonce || counter) for ``blocks`` consecutive counters, byte-sliced."""
    sub, xt = translations()
    size = blocks
    ones = int.from_bytes(b"\x01" * size, "little")

    def key_byte(r: int, k: int) -> int:
        return (rk[4 * r + k // 4] >> (24 - 8 * (k % 4))) & 255

    def xtime(v: int) -> int:
        return int.from_bytes(v.to_bytes(size, "little").translate(xt), "little")

    counters = struct.pack(f">{size}I", *[(first + i) & 0xFFFFFFFF for i in range(size)])
    planes = [(nonce[k] ^ key_byte(0, k)) * ones for k in range(12)]
    planes += [
        int.from_bytes(counters[k::4], "little") ^ key_byte(0, 12 + k) * ones for k in range(4)
    ]
    rounds = len(rk) // 4 - 1
    for r in range(1, rounds + 1):
        subbed = [
            int.from_bytes(p.to_bytes(size, "little").translate(sub), "little") for p in planes
        ]
        state = [subbed[_SHIFT[k]] for k in range(16)]
        if r < rounds:
            mixed: list[int] = []
            for c in range(0, 16, 4):
                a0, a1, a2, a3 = state[c : c + 4]
                t = a0 ^ a1 ^ a2 ^ a3
                mixed += (
                    a0 ^ t ^ xtime(a0 ^ a1),
                    a1 ^ t ^ xtime(a1 ^ a2),
                    a2 ^ t ^ xtime(a2 ^ a3),
                    a3 ^ t ^ xtime(a3 ^ a0),
                )
            state = mixed
        planes = [state[k] ^ key_byte(r, k) * ones for k in range(16)]
    out = bytearray(16 * size)
    for k in range(16):
        out[k::16] = planes[k].to_bytes(size, "little")
    return bytes(out)


def _keystream_words(rk: list[int], nonce: bytes, first: int, blocks: int) -> bytes:
    n0, n1, n2 = struct.unpack(">3I", nonce)
    words: list[int] = []
    for i in range(blocks):
        words += encrypt_words(rk, n0, n1, n2, (first + i) & 0xFFFFFFFF)
    return struct.pack(f">{len(words)}I", *words)


def _ctr(rk: list[int], nonce: bytes, first: int, data: bytes) -> bytes:
    """data XOR E(nonce || counter), counter = first, first + 1, ... (32-bit wrap)."""
    if not data:
        return b""
    blocks = (len(data) + 15) // 16
    if blocks >= _SLICED_FROM_BLOCKS:
        stream = _keystream_sliced(rk, nonce, first, blocks)
    else:
        stream = _keystream_words(rk, nonce, first, blocks)
    size = len(data)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:size], "little")
    return mixed.to_bytes(size, "little")


# --- GHASH -------------------------------------------------------------------------------


def _blocks(aad: bytes, ciphertext: bytes) -> list[int]:
    out: list[int] = []
    for data in (aad, ciphertext):
        padded = data + bytes(-len(data) % 16)
        out += (int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16))
    out.append(((8 * len(aad)) << 64) | (8 * len(ciphertext)))
    return out


@functools.lru_cache(maxsize=8)
def _ghash_tables(h: int, bits: int) -> list[list[int]]:
    """tables[k][v] = (the ``bits``-bit value v at position k of a block) * H.

    Kept for the last few keys: a delivery opens and seals the state with the same data key,
    and a warm instance serves the same wallet again (under Pyodide the tables cost ~2 ms a
    call). They are derived from the key, which this process holds anyway; callers never
    mutate them."""
    powers = []  # powers[i] = H * x^i
    w = h
    for _ in range(128):
        powers.append(w)
        w = (w >> 1) ^ _R if w & 1 else w >> 1
    tables = []
    for k in range(128 // bits):
        table = [0] * (1 << bits)
        for v in range(1, 1 << bits):
            low = v & -v  # bit j of position k stands for x^(bits*k + bits-1 - j)
            table[v] = table[v ^ low] ^ powers[bits * k + bits - low.bit_length()]
        tables.append(table)
    return tables


def _ghash(h: int, aad: bytes, ciphertext: bytes) -> int:
    blocks = _blocks(aad, ciphertext)
    y = 0
    if len(blocks) < _GHASH_BYTE_TABLES_FROM_BLOCKS:
        nibbles = list(enumerate(_ghash_tables(h, 4)))
        for block in blocks:
            y ^= block
            acc = 0
            for k, table in nibbles:
                acc ^= table[(y >> (124 - 4 * k)) & 15]
            y = acc
        return y
    (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15) = _ghash_tables(h, 8)
    for block in blocks:
        y ^= block
        y = (
            m0[y >> 120] ^ m1[(y >> 112) & 255] ^ m2[(y >> 104) & 255]
            ^ m3[(y >> 96) & 255] ^ m4[(y >> 88) & 255] ^ m5[(y >> 80) & 255]
            ^ m6[(y >> 72) & 255] ^ m7[(y >> 64) & 255] ^ m8[(y >> 56) & 255]
            ^ m9[(y >> 48) & 255] ^ m10[(y >> 40) & 255] ^ m11[(y >> 32) & 255]
            ^ m12[(y >> 24) & 255] ^ m13[(y >> 16) & 255] ^ m14[(y >> 8) & 255]
            ^ m15[y & 255]
        )  # fmt: skip
    return y


# --- GCM ---------------------------------------------------------------------------------


def _setup(key: bytes, nonce: bytes) -> tuple[list[int], int, int]:
    """(round keys, H = E(K, 0), tag mask E(K, J0)) for a 96-bit nonce."""
    if len(nonce) != 12:
        raise ValueError("this GCM takes 12-byte nonces only")
    rk = expand_key(key)
    h0, h1, h2, h3 = encrypt_words(rk, 0, 0, 0, 0)
    n0, n1, n2 = struct.unpack(">3I", nonce)
    e0, e1, e2, e3 = encrypt_words(rk, n0, n1, n2, 1)
    return rk, (h0 << 96) | (h1 << 64) | (h2 << 32) | h3, (e0 << 96) | (e1 << 64) | (e2 << 32) | e3


def gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """ciphertext || 16-byte tag."""
    rk, h, mask = _setup(key, nonce)
    ciphertext = _ctr(rk, nonce, 2, plaintext)
    return ciphertext + (_ghash(h, aad, ciphertext) ^ mask).to_bytes(16, "big")


def gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when the tag does not match (nothing is decrypted then)."""
    if len(sealed) < 16:
        return None
    rk, h, mask = _setup(key, nonce)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    expected = (_ghash(h, aad, ciphertext) ^ mask).to_bytes(16, "big")
    if not hmac.compare_digest(expected, tag):
        return None
    return _ctr(rk, nonce, 2, ciphertext)
