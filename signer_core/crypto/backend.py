"""Which implementation runs the crypto: native (coincurve, pycryptodome) or pure Python.

``NWC_CRYPTO`` = ``auto`` (default) | ``native`` | ``pure``, read once, on first use:

- ``auto``: each family on its own: secp256k1 is native when coincurve imports, the ciphers
  when pycryptodome imports (Pyodide ships pycryptodome but no coincurve, so it gets pure
  secp256k1 and native ciphers); otherwise pure;
- ``native``: both native, an ImportError when a library is missing (no silent fallback);
- ``pure``: both pure (tests, and trying the Pyodide path on CPython).

What both backends share (the curve constants, ``InvalidKey`` and ``Point``: plain affine
integers, valid input to either backend, serialised without one; the constructor checks the
curve equation, so an off-curve point cannot exist) lives in ``point.py`` and is re-exported
here: the backends import ``point``, never this module, so imports run one way.

Tests switch with ``use("pure")`` / ``use("native")`` / ``use(None)`` (back to the
environment). Resolving imports the chosen modules only: with the native backend no pure
module is imported, and nothing here builds a table or draws randomness at import.
"""

from __future__ import annotations

import os

from signer_core.crypto.point import GX, GY, InvalidKey, N, P, Point, scalar_from_bytes

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
