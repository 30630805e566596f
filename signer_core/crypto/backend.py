"""Which implementation runs the crypto: native (coincurve, pycryptodome) or pure Python.

``NWC_CRYPTO`` = ``auto`` (default) | ``native`` | ``pure``, read once, on first use:

- ``auto``: each family on its own: secp256k1 is native when coincurve imports, the ciphers
  when pycryptodome imports (Pyodide ships pycryptodome but no coincurve, so it gets pure
  secp256k1 and native ciphers); otherwise pure;
- ``native``: both native, an ImportError when a library is missing (no silent fallback);
- ``pure``: both pure (tests, and trying the Pyodide path on CPython).

This module also holds what both backends share, so the native path loads no extra file:
the curve constants, ``InvalidKey`` and ``Point`` (plain affine integers: a point made by one
backend is valid input to the other, and serializing it needs no backend at all; its
constructor checks the curve equation, so an off-curve point cannot exist).

Tests switch with ``use("pure")`` / ``use("native")`` / ``use(None)`` (back to the
environment). Resolving imports the chosen modules only: with the native backend no pure
module is imported, and nothing here builds a table or draws randomness at import.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~4 ms cold

if TYPE_CHECKING:
    from typing import Any

    from signer_core.crypto._protocols import CipherBackend, SecpBackend

__all__ = [
    "ENV",
    "GX",
    "GY",
    "MODES",
    "N",
    "P",
    "InvalidKey",
    "Point",
    "scalar_from_bytes",
    "active",
    "ciphers",
    "mode",
    "secp",
    "use",
    "warm",
]

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


# --- selection ----------------------------------------------------------------------------

ENV = "NWC_CRYPTO"
MODES = ("auto", "native", "pure")

_NATIVE_SECP = "signer_core.crypto._native_secp"
_PURE_SECP = "signer_core.crypto.pure.secp256k1"
_NATIVE_CIPHERS = "signer_core.crypto._native_ciphers"
_PURE_CIPHERS = "signer_core.crypto.pure.ciphers"


if TYPE_CHECKING:  # mypy checks that the four modules really have these shapes
    from signer_core.crypto import _native_ciphers, _native_secp
    from signer_core.crypto.pure import ciphers as _pure_ciphers
    from signer_core.crypto.pure import secp256k1 as _pure_secp

    _SHAPES: tuple[SecpBackend, SecpBackend, CipherBackend, CipherBackend] = (
        _native_secp,
        _pure_secp,
        _native_ciphers,
        _pure_ciphers,
    )

_mode: str | None = None
_secp: SecpBackend | None = None
_ciphers: CipherBackend | None = None


def mode() -> str:
    """The requested mode: set by ``use``, else ``NWC_CRYPTO`` (read once), else auto."""
    global _mode
    if _mode is None:
        requested = os.environ.get(ENV, "auto").strip().lower() or "auto"
        if requested not in MODES:
            raise ValueError(f"{ENV} must be one of {', '.join(MODES)}, not {requested!r}")
        _mode = requested
    return _mode


def use(requested: str | None) -> None:
    """Switch backends (tests, benchmarks); None re-reads ``NWC_CRYPTO``."""
    global _mode, _secp, _ciphers
    if requested is not None and requested not in MODES:
        raise ValueError(f"crypto backend must be one of {', '.join(MODES)}")
    _mode = requested
    _secp = None
    _ciphers = None


def _import(name: str) -> Any:
    # __import__ with a fromlist returns the module itself; importlib would be one more import
    return __import__(name, fromlist=["NAME"])


def _native_importable(library: str) -> bool:
    try:
        __import__(library)  # no fromlist: no lookup of a "NAME" submodule in the library
    except ImportError:
        return False
    return True


def _pick(native: str, pure: str, library: str) -> Any:
    chosen = mode()
    if chosen == "pure" or (chosen == "auto" and not _native_importable(library)):
        return _import(pure)
    return _import(native)  # "native": an ImportError here is the message


def secp() -> SecpBackend:
    """The secp256k1 backend in use (resolved on first call)."""
    global _secp
    if _secp is None:
        _secp = _pick(_NATIVE_SECP, _PURE_SECP, "coincurve")
    return _secp


def ciphers() -> CipherBackend:
    """The cipher backend in use (resolved on first call; pycryptodome's ciphers load later)."""
    global _ciphers
    if _ciphers is None:
        _ciphers = _pick(_NATIVE_CIPHERS, _PURE_CIPHERS, "Crypto.Cipher")
    return _ciphers


def warm() -> None:
    """Resolve both backends and, for the pure ones, build the lazy tables now.

    Never called by this package (so import stays cheap and table-free); an entry point that
    wants the tables in a start-up snapshot may call it explicitly: it is deterministic and
    draws no randomness. Costs ~10 ms of CPU with the pure backend, nothing with native.
    """
    if secp().NAME == "pure":
        from signer_core.crypto.pure import curve

        curve.mul_g(1)
    if ciphers().NAME == "pure":
        from signer_core.crypto.pure import aes, gcm

        aes.sbox()
        gcm.translations()


def active() -> dict[str, str]:
    """{"secp": "native" | "pure", "ciphers": ...} (resolves both)."""
    return {"secp": secp().NAME, "ciphers": ciphers().NAME}
