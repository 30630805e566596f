"""Which implementation runs the crypto: native (coincurve, pycryptodome) or pure Python.

``NWC_CRYPTO`` = ``auto`` (default) | ``native`` | ``pure``, read once, on first use:

- ``auto``: each family on its own: secp256k1 is native when coincurve imports, the ciphers
  when pycryptodome imports (Pyodide ships pycryptodome but no coincurve, so it gets pure
  secp256k1 and native ciphers); otherwise pure;
- ``native``: both native, an ImportError when a library is missing (no silent fallback);
- ``pure``: both pure (tests, and trying the Pyodide path on CPython).

Tests switch with ``use("pure")`` / ``use("native")`` / ``use(None)`` (back to the
environment). Resolving imports the chosen modules only: with the native backend no pure
module is imported, and nothing here builds a table or draws randomness at import.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Protocol, cast

from signer_core.crypto._types import Point

__all__ = [
    "ENV",
    "MODES",
    "CipherBackend",
    "SecpBackend",
    "active",
    "ciphers",
    "mode",
    "secp",
    "use",
    "warm",
]

ENV = "NWC_CRYPTO"
MODES = ("auto", "native", "pure")

_NATIVE_SECP = "signer_core.crypto._native_secp"
_PURE_SECP = "signer_core.crypto.pure.secp256k1"
_NATIVE_CIPHERS = "signer_core.crypto._native_ciphers"
_PURE_CIPHERS = "signer_core.crypto.pure.ciphers"


class SecpBackend(Protocol):
    """What a secp256k1 backend module offers (see ``_native_secp``, ``pure.secp256k1``)."""

    NAME: str

    def xonly_pubkey(self, secret: bytes) -> bytes: ...
    def lift_x(self, xonly: bytes) -> Point: ...
    def schnorr_sign(self, message: bytes, secret: bytes, aux32: bytes) -> bytes: ...
    def schnorr_verify(self, message: bytes, signature: bytes, xonly: bytes) -> bool: ...
    def ecdh_x(self, secret: bytes, xonly: bytes) -> bytes: ...
    def point_parse(self, data: bytes) -> Point: ...
    def point_add(self, a: Point, b: Point) -> Point: ...
    def point_mul(self, point: Point, scalar: bytes) -> Point: ...
    def point_mul_g(self, scalar: bytes) -> Point: ...


class CipherBackend(Protocol):
    """What a cipher backend module offers (see ``_native_ciphers``, ``pure.ciphers``)."""

    NAME: str

    def chacha20(self, key: bytes, nonce: bytes, data: bytes) -> bytes: ...
    def aes_cbc_encrypt(self, key: bytes, iv: bytes, data: bytes) -> bytes: ...
    def aes_cbc_decrypt(self, key: bytes, iv: bytes, data: bytes) -> bytes: ...
    def aes_gcm_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...
    def aes_gcm_decrypt(
        self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes
    ) -> bytes | None: ...


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


def _native_importable(library: str) -> bool:
    try:
        importlib.import_module(library)
    except ImportError:
        return False
    return True


def _pick(native: str, pure: str, library: str) -> object:
    chosen = mode()
    if chosen == "pure" or (chosen == "auto" and not _native_importable(library)):
        return importlib.import_module(pure)
    return importlib.import_module(native)  # "native": an ImportError here is the message


def secp() -> SecpBackend:
    """The secp256k1 backend in use (resolved on first call)."""
    global _secp
    if _secp is None:
        _secp = cast(SecpBackend, _pick(_NATIVE_SECP, _PURE_SECP, "coincurve"))
    return _secp


def ciphers() -> CipherBackend:
    """The cipher backend in use (resolved on first call; pycryptodome's ciphers load later)."""
    global _ciphers
    if _ciphers is None:
        _ciphers = cast(CipherBackend, _pick(_NATIVE_CIPHERS, _PURE_CIPHERS, "Crypto.Cipher"))
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
