"""A real nutshell Cashu mint for tests and local development, with a fake Lightning backend.

The mint lives in its own virtual environment (``<repo>/.venv-mint`` by default, or
``$NWC_MINT_VENV``), installed once from the pinned, hashed ``mint-requirements.lock`` beside
this file: nutshell pins libraries (pydantic-settings, httpx 0.25, ...) that must not leak
into the signer's own environment. Installing is idempotent (a stamp file holds the lock's
hash) and prints progress to stderr.

``DevMint`` runs ``mint`` on 127.0.0.1 with a free port, a throw-away database and a random
private key, waits for ``/v1/info``, and stops it (terminate, wait, kill) when the ``with``
block ends::

    with DevMint() as mint:
        print(mint.url)

From the shell: ``python -m nwc_signer.dev.mint [--port N] [--input-fee-ppk N]`` runs one in
the foreground; ``python -m nwc_signer.dev.mint --install`` only installs it;
``--relock`` re-resolves the lock file (needs uv).

Fake backend behaviour (nutshell 0.20.2 ``FakeWallet``), as configured here by default:

- an incoming invoice is marked paid the first time its quote is checked
  (``FAKEWALLET_BRR``; the spontaneous payment is delayed by an hour so that, until the
  owner looks, another wallet of the same mint can still pay it internally);
- any outgoing invoice "settles" at once with a 1 sat fee and an all-zero preimage;
  invoices of this mint's own quotes settle internally with no fee and no preimage.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from nwc_signer.dev.process import REPO_ROOT, Supervised, Supervisor, free_port, http_probe

MINT_REQUIREMENTS = ("cashu==0.20.2", "marshmallow<4", "limits<5")
LOCK_FILE = Path(__file__).with_name("mint-requirements.lock")
DEFAULT_VENV = REPO_ROOT / ".venv-mint"
STAMP_NAME = ".nwc-mint-stamp"
START_TIMEOUT = 60.0

# Settings the dev mint runs with unless the caller overrides them (see the module docstring).
DEFAULT_ENV = {
    "MINT_BACKEND_BOLT11_SAT": "FakeWallet",
    "MINT_INPUT_FEE_PPK": "0",
    "FAKEWALLET_BRR": "true",
    "FAKEWALLET_DELAY_INCOMING_PAYMENT": "3600",
    "FAKEWALLET_DELAY_OUTGOING_PAYMENT": "0",
    "FAKEWALLET_PAY_INVOICE_STATE": "SETTLED",
    "FAKEWALLET_PAYMENT_STATE": "SETTLED",
    "MINT_RATE_LIMIT": "false",
    "MINT_QUOTE_BACKEND_CHECK_RATE_LIMIT": "0",
    "MINT_INFO_NAME": "nwc-signer dev mint",
    "DEBUG": "false",
    "LOG_LEVEL": "INFO",
}


def _say(message: str) -> None:
    print(f"devmint: {message}", file=sys.stderr, flush=True)


def venv_dir() -> Path:
    return Path(os.environ.get("NWC_MINT_VENV") or DEFAULT_VENV)


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _find_uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def _stamp_value(lock: Path) -> str:
    digest = hashlib.sha256(lock.read_bytes())
    digest.update(f"{sys.version_info[:2]}".encode())
    return digest.hexdigest()


def ensure_installed(
    venv: Path | None = None, lock: Path = LOCK_FILE, exe: str = "mint", what: str = "test mint"
) -> Path:
    """Create a tool's virtualenv and install its pinned lock into it (first run only).

    Returns the path of the ``exe`` executable (the mint's, or relay.py's nostr-relay)."""
    venv = venv or venv_dir()
    stamp = venv / STAMP_NAME
    want = _stamp_value(lock)
    mint_exe = _bin(venv, exe)
    if stamp.exists() and stamp.read_text().strip() == want and mint_exe.exists():
        return mint_exe
    _say(f"installing the {what} (first run only) into {venv} ...")
    started = time.monotonic()
    uv = _find_uv()
    try:
        if uv:
            _run([uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)])
            _run(
                [
                    uv,
                    "pip",
                    "sync",
                    "--quiet",
                    "--require-hashes",
                    "--python",
                    str(_bin(venv, "python")),
                    str(lock),
                ]
            )
        else:
            _run([sys.executable, "-m", "venv", str(venv)])
            _run(
                [
                    str(_bin(venv, "python")),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--require-hashes",
                    "-r",
                    str(lock),
                ]
            )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"installing the {what} failed:\n{exc.stderr or exc}") from exc
    if not mint_exe.exists():
        raise RuntimeError(f"the {what} installed but {mint_exe} is missing")
    stamp.write_text(want + "\n")
    _say(f"{what} installed in {time.monotonic() - started:.1f} s")
    return mint_exe


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def relock(
    lock: Path = LOCK_FILE,
    requirements: tuple[str, ...] = MINT_REQUIREMENTS,
    module: str = "nwc_signer.dev.mint",
) -> None:
    """Re-resolve a lock file from its requirements (python 3.11, with hashes)."""
    uv = _find_uv()
    if not uv:
        raise RuntimeError("relocking needs uv")
    subprocess.run(
        [
            uv,
            "pip",
            "compile",
            "-",
            "--python-version",
            "3.11",
            "--generate-hashes",
            "--quiet",
            "--no-header",
            "-o",
            str(lock),
        ],
        input="\n".join(requirements) + "\n",
        text=True,
        check=True,
    )
    body = lock.read_text()
    header = (
        f"# A pinned tool environment; {module.replace('.', '/')}.py installs it in its own venv.\n"
        f"# Regenerate: python -m {module} --relock\n"
        f"# from: {', '.join(requirements)} (python 3.11, with hashes)\n"
    )
    lock.write_text(header + body)


class DevMint(Supervised):
    """A nutshell mint subprocess; use as a context manager (or call start/stop)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        input_fee_ppk: int = 0,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        private_key: str | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.input_fee_ppk = input_fee_ppk
        self.extra_env = dict(env or {})
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="nwc-devmint-"))
        # Random per run unless given: restarting with the same key and workdir keeps the mint.
        self.private_key = private_key or secrets.token_hex(32)
        self.start_timeout = start_timeout
        self.log_path = self.workdir / "mint.log"

    def environment(self) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MINT_", "FAKEWALLET_"))}
        env.update(DEFAULT_ENV)
        env.update(
            {
                "HOME": str(home),  # nutshell reads ~/.cashu/.env: keep a developer's out
                "CASHU_DIR": str(home / ".cashu"),
                "MINT_LISTEN_HOST": "127.0.0.1",
                "MINT_LISTEN_PORT": str(self.port),
                "MINT_DATABASE": str(self.workdir / "db"),
                "MINT_PRIVATE_KEY": self.private_key,
                "MINT_INPUT_FEE_PPK": str(self.input_fee_ppk),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> DevMint:
        if self.proc is not None:
            raise RuntimeError("mint already running")
        mint_exe = ensure_installed()
        (self.workdir / "db").mkdir(parents=True, exist_ok=True)
        ready = http_probe(f"{self.url}/v1/info", _answers_info)
        child = Supervisor("test mint", [str(mint_exe)], ready=ready, log_path=self.log_path,
                           env=self.environment(), cwd=self.workdir,
                           start_timeout=self.start_timeout)  # fmt: skip
        child.start()  # on failure it has already stopped the process
        self._child = child
        return self

    def log_tail(self, lines: int = 30) -> str:
        if self._child is not None:
            return self._child.log_tail(lines)
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no mint log)"

    def restart(self, env: Mapping[str, str] | None = None) -> DevMint:
        """Stop and start again on the same port, database and key (e.g. new fake settings)."""
        self.stop()
        if env is not None:
            self.extra_env.update(env)
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DevMint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def _answers_info(res: httpx.Response) -> bool:
    try:
        return res.status_code == 200 and bool(res.json().get("version"))
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nwc_signer.dev.mint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=3338)
    parser.add_argument("--input-fee-ppk", type=int, default=0)
    parser.add_argument("--install", action="store_true", help="only install the mint")
    parser.add_argument("--relock", action="store_true", help="re-resolve the lock file")
    args = parser.parse_args(argv)
    if args.relock:
        relock()
        return 0
    if args.install:
        ensure_installed()
        return 0
    with DevMint(port=args.port, input_fee_ppk=args.input_fee_ppk) as mint:
        _say(f"mint running at {mint.url} (log: {mint.log_path}); Ctrl-C stops it")
        mint.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
