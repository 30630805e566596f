"""secp256k1 group arithmetic on Python integers.

Jacobian coordinates (X, Y, Z) ~ affine (X/Z^2, Y/Z^3), Z == 0 the point at infinity, so a
scalar multiplication needs one modular inversion (``pow(z, -1, P)``) at the very end.

- generator multiples: a fixed-window table (``G_WINDOW`` bits per row, affine points), built on
  first use and never at import time: Cloudflare snapshots module state at deploy, and a
  request that never signs must not pay for it. No doublings at all: one mixed addition
  per non-zero window;
- other points: the GLV endomorphism splits k into two ~128-bit halves (lambda*(x, y) =
  (beta*x, y)), both walked together in width-5 NAF form (Strauss), so 128 doublings
  instead of 256.

Plain big-integer arithmetic: correct, but not constant time.
"""

from __future__ import annotations

from signer_core.crypto.point import GX, GY, N, P

__all__ = [
    "INF",
    "Affine",
    "Jac",
    "add",
    "add_mixed",
    "double",
    "g_table_ready",
    "mul",
    "mul_g",
    "to_affine",
]

Jac = tuple[int, int, int]
Affine = tuple[int, int]
INF: Jac = (0, 1, 0)

G_WINDOW = 4
_WNAF = 5  # width of the NAF digits for variable-base multiplication: 8 odd multiples

# GLV constants (as in libsecp256k1): lambda^3 = 1 mod n, beta^3 = 1 mod p,
# lambda * (x, y) == (beta * x, y) for every point.
_LAMBDA = 0x5363AD4CC05C30E0A5261C028812645A122E22EA20816678DF02967C1B23BD72
_BETA = 0x7AE96A2B657C07106E64479EAC3434E99CF0497512F58995C1396C28719501EE
_A1 = 0x3086D221A7D46BCDE86C90E49284EB15
_B1 = -0xE4437ED6010E88286F547FA90ABFE4C3
_A2 = 0x114CA50F7A8E2F3F657C1108D9D44CFD8
_B2 = 0x3086D221A7D46BCDE86C90E49284EB15

_g_table: list[list[Affine]] | None = None


def double(pt: Jac) -> Jac:
    """2*pt (a = 0 doubling, 3M + 4S)."""
    x, y, z = pt
    if z == 0 or y == 0:
        return INF
    yy = y * y % P
    s = 4 * x * yy % P
    m = 3 * x * x % P
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * yy * yy) % P, 2 * y * z % P


def add_mixed(pt: Jac, x2: int, y2: int) -> Jac:
    """pt + (x2, y2) with the second point affine (Z = 1): 8M + 3S."""
    x1, y1, z1 = pt
    if z1 == 0:
        return x2, y2, 1
    zz = z1 * z1 % P
    h = (x2 * zz - x1) % P
    r = (y2 * z1 * zz - y1) % P
    if h == 0:
        return double(pt) if r == 0 else INF
    hh = h * h % P
    hhh = h * hh % P
    v = x1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - y1 * hhh) % P, z1 * h % P


def add(p1: Jac, p2: Jac) -> Jac:
    """p1 + p2, both Jacobian."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    s1 = y1 * z2 * z2z2 % P
    h = (x2 * z1z1 - u1) % P
    r = (y2 * z1 * z1z1 - s1) % P
    if h == 0:
        return double(p1) if r == 0 else INF
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - s1 * hhh) % P, z1 * z2 * h % P


def to_affine(pt: Jac) -> Affine | None:
    """(x, y), or None for the point at infinity."""
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return x * zi2 % P, y * zi2 * zi % P


def _batch_affine(points: list[Jac]) -> list[Affine]:
    """Many finite points to affine with one inversion (Montgomery's trick)."""
    prefix = []
    acc = 1
    for _, _, z in points:
        prefix.append(acc)
        acc = acc * z % P
    inv = pow(acc, -1, P)
    out: list[Affine] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inv * prefix[i] % P
        inv = inv * z % P
        zi2 = zi * zi % P
        out[i] = (x * zi2 % P, y * zi2 * zi % P)
    return out


# --- generator: fixed-window table -------------------------------------------------------


def g_table_ready() -> bool:
    """True once the generator table exists (it is built by the first ``mul_g``)."""
    return _g_table is not None


def _build_g_table() -> list[list[Affine]]:
    size = 1 << G_WINDOW
    rows = (256 + G_WINDOW - 1) // G_WINDOW
    flat: list[Jac] = []
    base: Jac = (GX, GY, 1)
    for _ in range(rows):
        acc = base
        flat.append(acc)
        for _ in range(size - 2):
            acc = add(acc, base)
            flat.append(acc)
        base = add(acc, base)  # size * base: the next row's unit
    affine = _batch_affine(flat)
    return [affine[i : i + size - 1] for i in range(0, len(affine), size - 1)]


def mul_g(k: int) -> Jac:
    """k*G for 0 <= k < 2^256: one mixed addition per non-zero window, no doublings."""
    global _g_table
    table = _g_table
    if table is None:
        table = _g_table = _build_g_table()
    mask = (1 << G_WINDOW) - 1
    acc = INF
    for row in table:
        digit = k & mask
        if digit:
            x2, y2 = row[digit - 1]
            acc = add_mixed(acc, x2, y2)
        k >>= G_WINDOW
        if not k:
            break
    return acc


# --- arbitrary points: GLV + wNAF (Strauss) ------------------------------------------------


def _split(k: int) -> tuple[int, int]:
    """k = k1 + k2*lambda (mod n) with |k1|, |k2| < 2^129."""
    c1 = (_B2 * k + N // 2) // N
    c2 = (-_B1 * k + N // 2) // N
    return k - c1 * _A1 - c2 * _A2, -c1 * _B1 - c2 * _B2


def _wnaf(k: int) -> list[int]:
    """Width-_WNAF non-adjacent form of k >= 0, least significant digit first."""
    digits: list[int] = []
    full = 1 << _WNAF
    half = full >> 1
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


def _odd_multiples(x: int, y: int) -> list[Affine]:
    """[P, 3P, 5P, ..., (2^(w-1) - 1)P] in affine form."""
    two = double((x, y, 1))
    jac: list[Jac] = [(x, y, 1)]
    for _ in range((1 << (_WNAF - 2)) - 1):
        jac.append(add(jac[-1], two))
    return _batch_affine(jac)


def mul(x: int, y: int, k: int) -> Jac:
    """k*(x, y) for an affine point on the curve and 0 <= k < n."""
    k %= N
    if k == 0:
        return INF
    k1, k2 = _split(k)
    base = _odd_multiples(x, y)
    # Each half: its digits, its table (lambda-table = beta*x), and the sign of the half.
    parts: list[tuple[list[int], list[Affine], bool]] = []
    for part, table in ((k1, base), (k2, [(_BETA * px % P, py) for px, py in base])):
        if part:
            parts.append((_wnaf(abs(part)), table, part < 0))
    length = max(len(digits) for digits, _, _ in parts)
    acc = INF
    for i in range(length - 1, -1, -1):
        acc = double(acc)
        for digits, table, negative in parts:
            if i < len(digits) and digits[i]:
                d = digits[i]
                px, py = table[abs(d) >> 1]
                if (d < 0) != negative:
                    py = P - py
                acc = add_mixed(acc, px, py)
    return acc
