"""Nostr relays for tests and local development, on loopback.

- ``InProcessRelay``: nostr-sdk's ``LocalRelay`` (in memory, no ephemeral-event storage) on a
  background thread; what ``nwc-signer dev`` and most end-to-end tests use.
- ``NostrRelayProcess``: PyPI ``nostr-relay`` (a separate process, SQLite, stores ephemeral
  events too, so old requests come back on every re-subscribe). It lives in its own virtual
  environment (``<repo>/.venv-relay`` or ``$NWC_RELAY_VENV``), installed on first use from the
  pinned, hashed ``relay-requirements.lock`` beside this file, exactly as the test mint is
  (``nwc_signer.dev.mint.ensure_installed``). ``max_event_size`` is raised to 65536 (its
  default, 4096, refuses ordinary NIP-44 payloads).

``python -m nwc_signer.dev.relay [--port N]`` runs the nostr-relay process in the foreground;
``--install`` only installs it; ``--relock`` re-resolves the lock file (needs uv).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from nwc_signer.dev.mint import ensure_installed, relock
from nwc_signer.dev.process import REPO_ROOT, Supervised, Supervisor, free_port, port_probe

RELAY_REQUIREMENTS = ("nostr-relay==1.14",)
LOCK_FILE = Path(__file__).with_name("relay-requirements.lock")
START_TIMEOUT = 60.0

CONFIG = """DEBUG: false
relay_name: nwc-signer test relay
max_event_size: 65536
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
gunicorn:
  bind: 127.0.0.1:{port}
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
"""


def venv_dir() -> Path:
    return Path(os.environ.get("NWC_RELAY_VENV") or REPO_ROOT / ".venv-relay")


def install() -> Path:
    return ensure_installed(venv_dir(), LOCK_FILE, exe="nostr-relay", what="test relay")


class InProcessRelay:
    """nostr-sdk's LocalRelay on its own event-loop thread; ``url`` once started."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._relay: object | None = None

    def start(self) -> InProcessRelay:
        import nostr_sdk as ns

        async def run() -> str:
            # LocalRelay's default write limit (a few events a minute per connection) would
            # throttle the watcher's publishing; this is a single-user loopback relay
            limit = ns.RateLimit(max_reqs=500, notes_per_minute=100_000)
            builder = ns.LocalRelayBuilder().addr("127.0.0.1").rate_limit(limit)
            if self.port:
                builder = builder.port(self.port)
            relay = builder.build()
            await relay.run()
            self._relay = relay
            return str(await relay.url())

        self._thread.start()
        try:
            self.url = asyncio.run_coroutine_threadsafe(run(), self._loop).result(15)
        except Exception as exc:
            self.stop()
            where = f"port {self.port}" if self.port else "a free port"
            raise RuntimeError(f"cannot start the local relay on {where}: {exc}") from exc
        self.url = self.url.rstrip("/")
        return self

    def stop(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            with contextlib.suppress(Exception):  # best effort: the thread is stopped next
                relay.shutdown()  # type: ignore[attr-defined]
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> InProcessRelay:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NostrRelayProcess(Supervised):
    """PyPI nostr-relay as a supervised process group (gunicorn master + worker)."""

    def __init__(self, port: int | None = None, workdir: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="nwc-devrelay-"))
        self.log_path = self.workdir / "relay.log"

    def start(self) -> NostrRelayProcess:
        exe = install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yaml"
        config.write_text(CONFIG.format(db=self.workdir / "nostr.sqlite3", port=self.port))
        child = Supervisor("nostr-relay", [str(exe), "-c", str(config), "serve"],
                           ready=port_probe(self.port), log_path=self.log_path,
                           cwd=self.workdir, start_timeout=START_TIMEOUT)  # fmt: skip
        child.start()
        self._child = child
        return self

    def cleanup(self) -> None:
        self.stop()
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NostrRelayProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nwc_signer.dev.relay", description=__doc__)
    parser.add_argument("--port", type=int, default=7447)
    parser.add_argument("--install", action="store_true", help="only install nostr-relay")
    parser.add_argument("--relock", action="store_true", help="re-resolve the lock file")
    args = parser.parse_args(argv)
    if args.relock:
        relock(LOCK_FILE, RELAY_REQUIREMENTS, "nwc_signer.dev.relay")
        return 0
    if args.install:
        install()
        return 0
    with NostrRelayProcess(port=args.port) as relay:
        print(f"devrelay: nostr-relay at {relay.url} (log {relay.log_path}); Ctrl-C stops it",
              file=sys.stderr)  # fmt: skip
        relay.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
