"""AES (FIPS-197) with 32-bit T-tables, and CBC mode (NIP-04); GCM is in ``gcm``.

The tables are computed from the S-box on first use, not at import. Table lookups indexed by
secret bytes are a cache timing channel: this is a fallback for runtimes without native code,
not constant time.
"""

from __future__ import annotations

import struct

__all__ = ["cbc_decrypt", "cbc_encrypt", "encrypt_words", "expand_key", "sbox"]

_Tables = tuple[list[int], list[int], list[int], list[int], list[int]]
_tables: tuple[_Tables, _Tables] | None = None  # (encryption, decryption): T0..T3 + S-box


def _xtime(a: int) -> int:
    a <<= 1
    return a ^ 0x11B if a & 0x100 else a


def _build() -> tuple[_Tables, _Tables]:
    # GF(2^8) exp/log tables over the generator 3; then the S-box is the multiplicative
    # inverse followed by the affine map, and every product a table lookup.
    exp = [0] * 510
    log = [0] * 256
    a = 1
    for i in range(255):
        exp[i] = exp[i + 255] = a
        log[a] = i
        a ^= _xtime(a)  # multiply by 3
    sbox = [0] * 256
    inv_sbox = [0] * 256
    for x in range(256):
        inv = 0 if x == 0 else exp[255 - log[x]]
        s = inv
        for shift in range(1, 5):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        s ^= 0x63
        sbox[x] = s
        inv_sbox[s] = x

    def mul(v: int, c: int) -> int:
        return 0 if v == 0 else exp[log[v] + log[c]]

    def rotations(words: list[int]) -> list[list[int]]:
        out = [words]
        for _ in range(3):
            out.append([((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in out[-1]])
        return out

    te = rotations([(mul(s, 2) << 24) | (s << 16) | (s << 8) | mul(s, 3) for s in sbox])
    td = rotations(
        [
            (mul(s, 14) << 24) | (mul(s, 9) << 16) | (mul(s, 13) << 8) | mul(s, 11)
            for s in inv_sbox
        ]
    )
    return (te[0], te[1], te[2], te[3], sbox), (td[0], td[1], td[2], td[3], inv_sbox)


def _get_tables() -> tuple[_Tables, _Tables]:
    global _tables
    if _tables is None:
        _tables = _build()
    return _tables


def expand_key(key: bytes) -> list[int]:
    """The round-key words of a 16/24/32-byte key (4 * (rounds + 1) words)."""
    if len(key) not in (16, 24, 32):
        raise ValueError("AES key must be 16, 24 or 32 bytes")
    sbox = _get_tables()[0][4]
    nk = len(key) // 4
    total = 4 * (nk + 7)
    w = list(struct.unpack(f">{nk}I", key))
    rcon = 1
    for i in range(nk, total):
        t = w[i - 1]
        if i % nk == 0:
            t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
            t = (
                (sbox[t >> 24] << 24)
                | (sbox[(t >> 16) & 255] << 16)
                | (sbox[(t >> 8) & 255] << 8)
                | sbox[t & 255]
            ) ^ (rcon << 24)
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = (
                (sbox[t >> 24] << 24)
                | (sbox[(t >> 16) & 255] << 16)
                | (sbox[(t >> 8) & 255] << 8)
                | sbox[t & 255]
            )
        w.append(w[i - nk] ^ t)
    return w


def _decryption_key(rk: list[int]) -> list[int]:
    """Round keys for the equivalent inverse cipher: reversed, InvMixColumns in between."""
    encryption, decryption = _get_tables()
    t0, t1, t2, t3, _ = decryption
    sbox = encryption[4]
    rounds = len(rk) // 4 - 1
    out: list[int] = []
    for r in range(rounds, -1, -1):
        words = rk[4 * r : 4 * r + 4]
        if 0 < r < rounds:
            words = [
                t0[sbox[w >> 24]]
                ^ t1[sbox[(w >> 16) & 255]]
                ^ t2[sbox[(w >> 8) & 255]]
                ^ t3[sbox[w & 255]]
                for w in words
            ]
        out.extend(words)
    return out


def encrypt_words(
    rk: list[int], s0: int, s1: int, s2: int, s3: int
) -> tuple[int, int, int, int]:
    t0, t1, t2, t3, sbox = _get_tables()[0]
    s0 ^= rk[0]
    s1 ^= rk[1]
    s2 ^= rk[2]
    s3 ^= rk[3]
    last = len(rk) - 4
    i = 4
    while i < last:
        s0, s1, s2, s3 = (
            t0[s0 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255] ^ rk[i],
            t0[s1 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255] ^ rk[i + 1],
            t0[s2 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255] ^ rk[i + 2],
            t0[s3 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255] ^ rk[i + 3],
        )
        i += 4
    return (
        ((sbox[s0 >> 24] << 24) | (sbox[(s1 >> 16) & 255] << 16)
         | (sbox[(s2 >> 8) & 255] << 8) | sbox[s3 & 255]) ^ rk[last],
        ((sbox[s1 >> 24] << 24) | (sbox[(s2 >> 16) & 255] << 16)
         | (sbox[(s3 >> 8) & 255] << 8) | sbox[s0 & 255]) ^ rk[last + 1],
        ((sbox[s2 >> 24] << 24) | (sbox[(s3 >> 16) & 255] << 16)
         | (sbox[(s0 >> 8) & 255] << 8) | sbox[s1 & 255]) ^ rk[last + 2],
        ((sbox[s3 >> 24] << 24) | (sbox[(s0 >> 16) & 255] << 16)
         | (sbox[(s1 >> 8) & 255] << 8) | sbox[s2 & 255]) ^ rk[last + 3],
    )  # fmt: skip


def _decrypt_words(
    dk: list[int], s0: int, s1: int, s2: int, s3: int
) -> tuple[int, int, int, int]:
    t0, t1, t2, t3, inv = _get_tables()[1]
    s0 ^= dk[0]
    s1 ^= dk[1]
    s2 ^= dk[2]
    s3 ^= dk[3]
    last = len(dk) - 4
    i = 4
    while i < last:
        s0, s1, s2, s3 = (
            t0[s0 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s1 & 255] ^ dk[i],
            t0[s1 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s2 & 255] ^ dk[i + 1],
            t0[s2 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s3 & 255] ^ dk[i + 2],
            t0[s3 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s0 & 255] ^ dk[i + 3],
        )
        i += 4
    return (
        ((inv[s0 >> 24] << 24) | (inv[(s3 >> 16) & 255] << 16)
         | (inv[(s2 >> 8) & 255] << 8) | inv[s1 & 255]) ^ dk[last],
        ((inv[s1 >> 24] << 24) | (inv[(s0 >> 16) & 255] << 16)
         | (inv[(s3 >> 8) & 255] << 8) | inv[s2 & 255]) ^ dk[last + 1],
        ((inv[s2 >> 24] << 24) | (inv[(s1 >> 16) & 255] << 16)
         | (inv[(s0 >> 8) & 255] << 8) | inv[s3 & 255]) ^ dk[last + 2],
        ((inv[s3 >> 24] << 24) | (inv[(s2 >> 16) & 255] << 16)
         | (inv[(s1 >> 8) & 255] << 8) | inv[s0 & 255]) ^ dk[last + 3],
    )  # fmt: skip


# --- CBC (NIP-04) ------------------------------------------------------------------------


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CBC without padding (the caller pads): len(data) must be a multiple of 16."""
    if len(iv) != 16 or len(data) % 16:
        raise ValueError("CBC needs a 16-byte IV and whole 16-byte blocks")
    rk = expand_key(key)
    c0, c1, c2, c3 = struct.unpack(">4I", iv)
    words = struct.unpack(f">{len(data) // 4}I", data)
    out: list[int] = []
    for i in range(0, len(words), 4):
        c0, c1, c2, c3 = encrypt_words(
            rk, words[i] ^ c0, words[i + 1] ^ c1, words[i + 2] ^ c2, words[i + 3] ^ c3
        )
        out += (c0, c1, c2, c3)
    return struct.pack(f">{len(out)}I", *out)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Inverse of ``cbc_encrypt`` (padding is the caller's to check)."""
    if len(iv) != 16 or len(data) % 16:
        raise ValueError("CBC needs a 16-byte IV and whole 16-byte blocks")
    dk = _decryption_key(expand_key(key))
    prev = struct.unpack(">4I", iv)
    words = struct.unpack(f">{len(data) // 4}I", data)
    out: list[int] = []
    for i in range(0, len(words), 4):
        block = words[i : i + 4]
        p0, p1, p2, p3 = _decrypt_words(dk, *block)
        out += (p0 ^ prev[0], p1 ^ prev[1], p2 ^ prev[2], p3 ^ prev[3])
        prev = block
    return struct.pack(f">{len(out)}I", *out)


def sbox() -> list[int]:
    """The AES S-box (built on first use)."""
    return _get_tables()[0][4]
