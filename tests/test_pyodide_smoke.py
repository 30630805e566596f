"""The signer core under Pyodide (npm `pyodide` 314 in the pinned Node 22), offline.

Starts functions/cloudflare/pyodide_host.mjs, which answers a signed get_balance delivery
through `signer_core.pipeline.handle_webhook` with the pure-Python crypto, and checks the
decrypted NIP-47 reply. The second test checks the I/O bridge the Cloudflare design may
rest on: synchronous Python blocking on an awaited JS fetch (JSPI, `run_sync`), with the
whole pipeline reading its state through such a store.

Needs what scripts/bootstrap.sh installs (npm ci + vendored wheels); if the bootstrap could
not, these tests skip and say why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
HOST_DIR = REPO / "functions" / "cloudflare"
VENDORED = REPO / ".venv-pyodide" / "python_modules"
NODE = HOST_DIR / "node_modules" / ".bin" / "node"
BALANCE_MSAT = 21_000  # the spike wallet's made-up proofs: 1 + 4 + 16 sats


def _not_installed() -> str | None:
    failed = HOST_DIR / ".bootstrap-failed"
    if failed.exists():
        return f"scripts/bootstrap.sh could not install it: {failed.read_text().strip()}"
    missing = [p for p in (NODE, HOST_DIR / "node_modules" / "pyodide", VENDORED) if not p.exists()]
    if missing:
        return f"missing {', '.join(str(p) for p in missing)}; run scripts/bootstrap.sh"
    return None


@pytest.fixture(scope="module")
def host() -> Path:
    reason = _not_installed()
    if reason is not None:
        message = f"PYODIDE HOST NOT INSTALLED, Pyodide smoke tests skipped: {reason}"
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    return HOST_DIR


def _run(host: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(NODE), *args], cwd=host, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"host failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _assert_balance_reply(reply: dict[str, Any]) -> None:
    assert reply["result_type"] == "get_balance"
    assert reply.get("error") is None
    assert reply["result"] == {"balance": BALANCE_MSAT}


def test_get_balance_delivery_is_answered_under_pyodide(host: Path) -> None:
    out = _run(host, "pyodide_host.mjs", "smoke")
    assert out["pyodide"].startswith("314.")
    assert out["node"].startswith("v22.")
    assert out["setup"]["crypto"] == {"secp": "pure", "ciphers": "pure"}
    answer = out["reply"]
    assert answer["status"] == 200, answer
    assert answer["kind"] == 23195
    assert answer["from_service"] is True  # signed by the connection's wallet-service key
    _assert_balance_reply(answer["reply"])
    assert answer["store_writes"] == 1  # wallet creation only: a get_balance writes nothing
    assert out["coincurve_import"] == ""  # the Cashu backend imports under Pyodide
    assert out["blocked_fetches"] == []  # nothing tried to leave the machine


def test_sync_python_blocks_on_async_fetch_with_jspi(host: Path) -> None:
    out = _run(host, "--experimental-wasm-jspi", "pyodide_host.mjs", "jspi", "--calls", "3")
    assert out["sync_fetch_from_async_entry"] == {"ok": True, "can_run_sync": True}
    delivery = out["delivery_over_fetch_store"]
    assert delivery["status"] == 200
    _assert_balance_reply(delivery["reply"])
    assert delivery["store_calls"] == 2  # one read per get_balance, no write
    assert out["blocked_fetches"] == []
