"""The dev mint's lifecycle (install once, start, fail loudly, stop without leftovers) and the
cold-path import cost of the Cashu backend."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nwc_signer.dev import mint as devmint
from nwc_signer.dev.mint import DevMint


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes once reaped
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_install_is_idempotent_and_stamped() -> None:
    exe = devmint.ensure_installed()
    started = time.monotonic()
    assert devmint.ensure_installed() == exe
    assert time.monotonic() - started < 1
    assert exe.exists() and (devmint.venv_dir() / devmint.STAMP_NAME).exists()
    lock = devmint.LOCK_FILE.read_text()
    assert "cashu==0.20.2" in lock and "--hash=sha256:" in lock


@pytest.mark.mint
def test_start_and_stop_leave_no_process_behind() -> None:
    with DevMint() as mint:
        assert mint.proc is not None
        pid = mint.proc.pid
        assert _alive(pid)
        workdir = mint.workdir
        import httpx

        info = httpx.get(f"{mint.url}/v1/info", timeout=5).json()
        assert info["version"] == "Nutshell/0.20.2"
        keysets = httpx.get(f"{mint.url}/v1/keysets", timeout=5).json()["keysets"]
        assert [k["input_fee_ppk"] for k in keysets] == [0]
    assert not _alive(pid)
    assert not workdir.exists()


@pytest.mark.mint
def test_a_mint_that_cannot_start_fails_with_its_log() -> None:
    mint = DevMint(env={"MINT_BACKEND_BOLT11_SAT": "NoSuchWallet"}, start_timeout=30)
    with pytest.raises(RuntimeError) as err:
        mint.start()
    assert "exited" in str(err.value) and "NoSuchWallet" in str(err.value)
    assert mint.proc is None
    mint.cleanup()

    slow = DevMint(start_timeout=0.2)
    with pytest.raises(RuntimeError) as err:
        slow.start()
    assert "did not answer" in str(err.value)
    assert slow.proc is None
    slow.cleanup()


def test_cold_import_pulls_neither_httpx_nor_pydantic() -> None:
    code = (
        "import sys, time; t = time.perf_counter();"
        "import signer_core.wallets.cashu.wallet;"
        "dt = time.perf_counter() - t;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('httpx', 'httpcore', 'pydantic', 'mnemonic'));"
        "print(heavy, dt)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "[]", out
    assert float(out[-1]) < 1.0  # ~30-50 ms here; generous for slow CI machines
