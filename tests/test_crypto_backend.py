"""Backend selection: NWC_CRYPTO, the automatic choice, what gets imported, nothing at import.

Subprocesses, because what a fresh interpreter imports (and when) is the point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from signer_core.crypto import backend, secp
from signer_core.vault import sealed

ROOT = Path(__file__).resolve().parents[1]

WORK = """
from signer_core.crypto import nip44, secp
from signer_core.vault import sealed
a, b = secp.generate_private_key(), secp.generate_private_key()
key = nip44.get_conversation_key(a, secp.xonly_pubkey(b))
assert nip44.decrypt(nip44.encrypt("hi", key), key) == "hi"
msg = bytes(32)
assert secp.schnorr_verify(msg, secp.schnorr_sign(msg, a), secp.xonly_pubkey(a))
blob = sealed.seal({"n": 1}, root_secret=bytes(32), wallet_id="w", generation=1,
                   dek=sealed.new_dek(), connections={})
assert sealed.open_with_admin(blob, root_secret=bytes(32), expected_wallet_id="w",
                              min_generation=1).state == {"n": 1}
"""


def _run(code: str, mode: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != backend.ENV}
    if mode is not None:
        env[backend.ENV] = mode
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _ok(code: str, mode: str | None) -> str:
    proc = _run(code, mode)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_native_never_imports_the_pure_modules() -> None:
    out = _ok(
        WORK
        + "import sys\n"
        + "from signer_core.crypto import backend\n"
        + "print(backend.active(), sorted(m for m in sys.modules if '.crypto.pure' in m))",
        "native",
    )
    assert out == "{'secp': 'native', 'ciphers': 'native'} []"


def test_pure_never_imports_coincurve_or_pycryptodome() -> None:
    out = _ok(
        WORK
        + "import sys\n"
        + "from signer_core.crypto import backend\n"
        + "print(backend.active(), 'coincurve' in sys.modules, 'Crypto' in sys.modules)",
        "pure",
    )
    assert out == "{'secp': 'pure', 'ciphers': 'pure'} False False"


def test_auto_picks_native_when_importable() -> None:
    code = "from signer_core.crypto import backend; print(backend.active())"
    assert _ok(code, None) == "{'secp': 'native', 'ciphers': 'native'}"
    assert _ok(code, "auto") == "{'secp': 'native', 'ciphers': 'native'}"


def test_auto_falls_back_per_family_when_a_library_is_missing() -> None:
    # sys.modules[name] = None makes "import name" raise ImportError, as on Pyodide
    no_coincurve = "import sys; sys.modules['coincurve'] = None\n"
    no_crypto = "import sys; sys.modules['Crypto'] = None\n"
    report = "from signer_core.crypto import backend; print(backend.active())"
    assert _ok(no_coincurve + WORK + report, None) == "{'secp': 'pure', 'ciphers': 'native'}"
    assert _ok(no_crypto + WORK + report, None) == "{'secp': 'native', 'ciphers': 'pure'}"
    both = no_coincurve + no_crypto + WORK + report
    assert _ok(both, "auto") == "{'secp': 'pure', 'ciphers': 'pure'}"


def test_native_demanded_but_missing_is_an_import_error() -> None:
    code = "import sys; sys.modules['coincurve'] = None\nimport signer_core.crypto.secp"
    proc = _run(code, "native")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr


def test_unknown_mode_is_refused() -> None:
    proc = _run("import signer_core.crypto.secp", "fast")
    assert proc.returncode != 0
    assert "NWC_CRYPTO must be one of auto, native, pure" in proc.stderr
    with pytest.raises(ValueError):
        backend.use("fast")


def test_import_builds_no_table_and_draws_no_randomness() -> None:
    """Cloudflare snapshots module state at deploy: import must be deterministic and cheap."""
    code = (
        "import os\n"
        "def _no(*a):\n"
        "    raise AssertionError('randomness drawn at import')\n"
        "os.urandom = _no\n"
        "import signer_core.crypto.secp, signer_core.crypto.nip44, signer_core.crypto.nip04\n"
        "import signer_core.crypto.ec, signer_core.vault.sealed\n"
        "from signer_core.crypto.pure import aes, curve, gcm\n"
        "before = (curve.g_table_ready(), aes._tables is None, gcm._slice_tables is None)\n"
        "from signer_core.crypto import secp\n"
        "secp.schnorr_sign(bytes(32), b'\\x01' * 32, bytes(32))\n"
        "print(before, curve.g_table_ready())\n"
    )
    assert _ok(code, "pure") == "(False, True, True) True"


@pytest.fixture
def switch() -> Iterator[None]:
    yield
    backend.use(None)


def test_use_switches_and_none_goes_back_to_the_environment(switch: None) -> None:
    backend.use("pure")
    assert backend.active() == {"secp": "pure", "ciphers": "pure"}
    backend.use("native")
    assert backend.active() == {"secp": "native", "ciphers": "native"}
    backend.use(None)
    expected = os.environ.get(backend.ENV, "auto").strip().lower() or "auto"
    assert backend.mode() == expected


@pytest.mark.parametrize(("writer", "reader"), [("pure", "native"), ("native", "pure")])
def test_vault_sealed_by_one_backend_opens_with_the_other(
    writer: str, reader: str, switch: None
) -> None:
    root = os.urandom(32)
    client = secp.generate_private_key()
    client_hex = secp.xonly_pubkey(client).hex()
    state = {"balance": 21, "proofs": ["x" * 50] * 400}  # a body of many GCM blocks
    backend.use(writer)
    blob = sealed.seal(
        state, root_secret=root, wallet_id="w1", generation=3, dek=sealed.new_dek(),
        connections={"c1": client_hex},
    )  # fmt: skip
    backend.use(reader)
    parsed = sealed.parse(blob)
    (service_hex,) = parsed.wraps
    opened = sealed.open_with_connection(
        blob, root_secret=root, service_pubkey_hex=service_hex, client_pubkey_hex=client_hex,
        expected_wallet_id="w1", min_generation=3,
    )  # fmt: skip
    assert opened.state == state
    assert sealed.open_with_admin(
        blob, root_secret=root, expected_wallet_id="w1", min_generation=3
    ).state == state
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(sealed.Tampered):
        sealed.open_with_admin(
            tampered, root_secret=root, expected_wallet_id="w1", min_generation=3
        )


def test_warm_builds_the_pure_tables_only_when_asked() -> None:
    code = (
        "from signer_core.crypto import backend\n"
        "from signer_core.crypto.pure import aes, curve, gcm\n"
        "before = curve.g_table_ready()\n"
        "backend.warm()\n"
        "print(before, curve.g_table_ready(), aes._tables is not None,"
        " gcm._slice_tables is not None)"
    )
    assert _ok(code, "pure") == "False True True True"


def test_the_shared_secret_is_computed_once_per_backend(
    switch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ecdh_x is memoised (a request needs it three times), but never across backends:
    a test that switches to pure must exercise pure."""
    me, peer = secp.generate_private_key(), secp.xonly_pubkey(secp.generate_private_key())
    calls: list[str] = []
    for mode in ("native", "pure"):
        backend.use(mode)
        impl = backend.secp()
        real = impl.ecdh_x

        def counted(s: bytes, x: bytes, real=real, mode=mode):  # type: ignore[no-untyped-def]
            calls.append(mode)
            return real(s, x)

        monkeypatch.setattr(impl, "ecdh_x", counted)
        first = secp.ecdh_x(me, peer)
        assert secp.ecdh_x(me, peer) == first
    assert calls == ["native", "pure"]
