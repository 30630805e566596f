"""The relay-watcher in the dev stack: its process, and the registration of a local wallet
folder's connection keys with it (at start, and again whenever the connections change).
Shared by `nwc-signer dev`, the end-to-end tests and scripts/bench_e2e.py.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from nwc_signer.dev.process import REPO_ROOT, Supervisor, free_port, http_probe

# The watcher refuses private and loopback function URLs by default (a shared watcher must
# not be steered at its operator's own network); the dev stack serves its functions on
# 127.0.0.1, so every watcher it starts allows them.
DEV_WATCHER_FLAGS = ("--allow-private-function-urls",)


class WatcherProcess:
    """`python -m relay_watcher serve` as a supervised child; stop() leaves nothing behind.
    With `database_url` it is one replica of a PostgreSQL-backed watcher (its data folder
    then holds only its log)."""

    def __init__(
        self,
        data_dir: Path,
        key_file: Path,
        port: int = 0,
        *extra: str,
        database_url: str | None = None,
    ) -> None:
        self.data_dir, self.key_file = Path(data_dir), Path(key_file)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.log_path = self.data_dir / "watcher.log"
        store = ["--data-dir", str(self.data_dir)]
        if database_url:
            store = ["--database-url", database_url]
        argv = [sys.executable, "-m", "relay_watcher", "serve", *store,
                "--key-file", str(self.key_file), "--port", str(self.port), *DEV_WATCHER_FLAGS,
                *extra]  # fmt: skip
        ready = http_probe(f"{self.url}/health", lambda res: res.status_code == 200)
        self.child = Supervisor("relay-watcher", argv, ready=ready, log_path=self.log_path,
                                cwd=REPO_ROOT, start_timeout=30, stop_grace=15)  # fmt: skip

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.child.proc

    def start(self) -> WatcherProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.child.start()
        return self

    def log_tail(self, lines: int = 30) -> str:
        return self.child.log_tail(lines)

    def health(self) -> dict[str, Any]:
        """The watcher's /health (its replica id, held requests, queue...)."""
        return dict(httpx.get(f"{self.url}/health", timeout=5).json())

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests)."""
        self.child.kill()

    def stop(self) -> None:
        self.child.stop()

    def __enter__(self) -> WatcherProcess:
        return self if self.child.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wallet_keys(data_dir: Path) -> tuple[bytes, list[bytes]]:
    """(registration secret, service secrets of every connection) of a local wallet folder."""
    from functions.local.datadir import DataDir
    from signer_core.crypto.secp import xonly_pubkey
    from signer_core.vault import keys, sealed

    folder = DataDir(data_dir)
    root = folder.secrets().root_secret
    found = folder.store().read()
    services = []
    if found is not None:
        for spk, wrap in sealed.parse(found[0]).wraps.items():
            secret = keys.service_secret(root, wrap.connection_id)
            if xonly_pubkey(secret).hex() == spk:
                services.append(secret)
    return keys.registration_secret(root, folder.config().wallet_id), services


def service_pubkeys(data_dir: Path) -> set[str]:
    """The wallet's current wallet-service pubkeys, from the blob header (cheap: no crypto)."""
    from functions.local.datadir import DataDir
    from signer_core.vault import sealed

    found = DataDir(data_dir).store().read()
    return set(sealed.parse(found[0]).wraps) if found else set()


def register_wallet(
    data_dir: Path,
    watcher_url: str,
    function_url: str,
    relays: list[str],
    *,
    unregister: bool = False,
) -> dict[str, object]:
    """Sign and send a (re-)registration of a local wallet's connection keys to a watcher."""
    from relay_watcher import registration

    reg_secret, services = wallet_keys(data_dir)
    headers, body = registration.build(
        reg_secret, now=int(time.time()), function_url=function_url, relays=relays,
        service_secrets=services, action="unregister" if unregister else "register",
    )  # fmt: skip
    path = "/v1/wallets/unregister" if unregister else "/v1/wallets"
    method = "POST" if unregister else "PUT"
    # the watcher challenges the function before answering: a cold start must fit
    res = httpx.request(method, watcher_url + path, content=body, headers=headers, timeout=30)
    if res.status_code != 200:
        raise RuntimeError(f"the watcher refused the registration: HTTP {res.status_code} "
                           f"{res.json().get('message', '') if res.content else ''}")  # fmt: skip
    return dict(res.json())


class ConnectionWatch:
    """Re-registers the wallet when its set of connections changes (`connection add` or
    `revoke` in another terminal while `nwc-signer dev` runs): polls the blob header."""

    def __init__(
        self, data_dir: Path, register: Callable[[], object], interval_s: float = 2.0
    ) -> None:
        self.data_dir, self.register, self.interval_s = data_dir, register, interval_s
        self.known = service_pubkeys(data_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                now = service_pubkeys(self.data_dir)
                if now != self.known:
                    self.register()
                    self.known = now
                    print(f"==> connections changed: re-registered {len(now)} key(s) with the "
                          "watcher", file=sys.stderr, flush=True)  # fmt: skip
            except Exception as exc:  # keep watching; say why once per failure
                print(f"==> re-registering failed: {exc}", file=sys.stderr, flush=True)

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
