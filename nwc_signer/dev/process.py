"""One supervisor for every child process of the dev stack (test mint, nostr-relay, watcher,
moto_server): start it, wait until a probe says it serves, keep its output in a log file,
and stop it with SIGTERM then SIGKILL, its whole process group, so nothing is left behind.

Each child gets a process group of its own (gunicorn's worker, a shell's children are in
it too), which also keeps a terminal's Ctrl-C from reaching it before we stop it in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

Probe = Callable[[], bool]
REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: children run from here


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing holds `port` on `host` (bind, as the server itself would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def http_probe(url: str, accept: Callable[[httpx.Response], bool] | None = None) -> Probe:
    """Ready when GET `url` answers (and `accept` likes the answer)."""

    def probe() -> bool:
        try:
            res = httpx.get(url, timeout=2)
        except httpx.HTTPError:
            return False
        return accept(res) if accept else True

    return probe


def port_probe(port: int, host: str = "127.0.0.1") -> Probe:
    """Ready when something accepts TCP connections on host:port."""

    def probe() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((host, port)) == 0

    return probe


class Supervisor:
    """A child process: `start()` returns once `ready` is true (or raises with the log's
    tail and leaves no process), `stop()` ends it and its process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: Probe,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 60.0,
        stop_grace: float = 10.0,
    ) -> None:
        self.name, self.argv = name, list(argv)
        self.ready, self.log_path = ready, Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.start_timeout, self.stop_grace = start_timeout, stop_grace
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Supervisor:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:  # a failed start, or Ctrl-C / SIGTERM while waiting
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the {self.name} exited with code {proc.returncode} during start-up:\n"
                    f"{self.log_tail()}"
                )
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the {self.name} did not answer within {self.start_timeout:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no {self.name} log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> bool:
        """Send `sig` to the child's process group; False when the group is gone."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL at once, as a crash would (tests of durability)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(10)
        self._reap_group()
        self.proc = None

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM, `grace` seconds to finish, then SIGKILL; reaps the child."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None and self._signal_group(signal.SIGTERM):
            try:
                proc.wait(timeout=self.stop_grace if grace is None else grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                proc.wait(timeout=10)
        self._reap_group()
        self.proc = None

    def _reap_group(self) -> None:
        """Members of the group may outlive its leader for a moment (a gunicorn worker)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.proc is not None:
            if not self._signal_group(0):
                return
            time.sleep(0.05)
        if self.proc is not None:
            self._signal_group(signal.SIGKILL)

    def wait(self) -> None:
        """Block while the child runs (a foreground `python -m ...` main); Ctrl-C returns."""
        with contextlib.suppress(KeyboardInterrupt):
            while self.running:
                time.sleep(0.5)

    def __enter__(self) -> Supervisor:
        return self if self.running else self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Supervised:
    """A service run by one ``Supervisor`` at a time (the test mint, nostr-relay): the
    delegation every such service needs, written once. Subclasses set ``_child`` in
    ``start`` and may override ``log_tail`` for when nothing runs."""

    _child: Supervisor | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self._child.proc if self._child is not None else None

    def log_tail(self, lines: int = 30) -> str:
        return self._child.log_tail(lines) if self._child is not None else "(not running)"

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()

    def wait(self) -> None:
        """Block while the service runs (a foreground main); Ctrl-C returns."""
        if self._child is not None:
            self._child.wait()
