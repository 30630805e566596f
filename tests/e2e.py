"""Helpers for the end-to-end tests: a wallet folder served by the local function and
registered with a real watcher process, NWC apps over real websockets (nostr-sdk), and
`nwc-signer dev` run as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk as ns

from functions.local.datadir import DataDir
from nwc_signer.dev.runtimes import local_runtime
from nwc_signer.dev.watcher import WatcherProcess, register_wallet
from tests.nwc import App, LocalWallet, remember_secret


def share_watcher(wallet: LocalWallet, watcher_secret: bytes) -> None:
    """Point a second wallet's function at the first wallet's watcher key."""
    from signer_core.crypto.secp import xonly_pubkey

    folder = DataDir(wallet.path)
    cfg = folder.config()
    cfg.watcher_pubkey = xonly_pubkey(watcher_secret).hex()
    folder.save_config(cfg)
    wallet.watcher_secret = watcher_secret


@contextlib.contextmanager
def served(wallet: LocalWallet, cold: bool = False, runtime: str = "local") -> Iterator[str]:
    """The wallet's function behind one of `nwc-signer dev`'s runtimes; yields its URL."""
    if runtime == "local":
        with local_runtime(wallet.path, 0, cold) as url:
            yield url
        return
    from nwc_signer.dev.process import free_port
    from nwc_signer.dev.runtimes import start_function_runtime

    with start_function_runtime(runtime, wallet.path, free_port(), cold=cold) as url:
        yield url


def metric(watcher: WatcherProcess, name: str, **labels: str) -> float:
    """Sum of one Prometheus metric's samples on a running watcher: all of them, or those
    carrying every given label (`kind="request"` leaves out the scheduled wake-ups)."""
    text = httpx.get(f"{watcher.url}/metrics", timeout=5).text
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if not (line.startswith(name + " ") or line.startswith(name + "{")):
            continue
        found = line.split("{", 1)[1].split("}", 1)[0].split(",") if "{" in line else []
        if all(label in found for label in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def connect(uri: str) -> tuple[App, Any]:
    """The test's app for a URI, and nostr-sdk's own NWC client for it."""
    app = App.from_uri(uri)
    return app, ns.NostrWalletConnect(ns.NostrWalletConnectUri.parse(uri))


def run(coro: Any, timeout: float = 30) -> Any:
    """Run one nostr-sdk coroutine with a deadline (every wait in the tests is bounded)."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class Listener:
    """A nostr-sdk client on its own thread, collecting events that match a filter."""

    def __init__(self, relays: list[str], flt: dict[str, Any]) -> None:
        self.relays, self.filter = relays, flt
        self.events: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._client: Any = None

    async def _start(self) -> None:
        client = ns.ClientBuilder().build()
        for url in self.relays:
            await client.add_relay(ns.RelayUrl.parse(url))
        await client.connect(timedelta(seconds=5))
        await client.subscribe(ns.ReqTarget.auto([ns.Filter.from_json(json.dumps(self.filter))]))
        self._client = client
        asyncio.ensure_future(self._read(client.notifications()))

    async def _read(self, stream: Any) -> None:
        while True:
            item = await stream.next()
            if item is None or item.is_shutdown():
                return
            if item.is_new_event():
                self.events.append(json.loads(item.event.as_json()))

    async def send(self, event: dict[str, Any]) -> None:
        await self._client.send_event(ns.Event.from_json(json.dumps(event)))

    def publish(self, event: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self.send(event), self._loop).result(10)

    def __enter__(self) -> Listener:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._client.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def start_watcher(folder: Path, key: bytes) -> WatcherProcess:
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "watcher.key"
    key_file.write_text(key.hex())
    key_file.chmod(0o600)
    remember_secret(key)
    return WatcherProcess(folder, key_file).start()


def register(wallet: LocalWallet, watcher: WatcherProcess, url: str, relays: list[str]) -> None:
    register_wallet(wallet.path, watcher.url, url, relays)


@dataclass
class DevRun:
    """A running `nwc-signer dev` child: its first connection URI and what it printed."""

    proc: subprocess.Popen[str]
    uri: str
    relay: str
    stdout: list[str]
    stderr: Path


@contextlib.contextmanager
def dev_command(data_dir: Path, *args: str, timeout: float = 240) -> Iterator[DevRun]:
    """Run `nwc-signer dev` on free ports; yields as soon as it prints a connection URI (so
    the caller sees the stack exactly as an app given the URI at once would). SIGTERM at
    the end; the command must stop by itself, leaving no child."""
    from nwc_signer.dev.process import REPO_ROOT, free_port

    relay_port = free_port()
    ports = ["--relay-port", str(relay_port), "--mint-port", str(free_port()),
             "--port", str(free_port()), "--watcher-port", str(free_port())]  # fmt: skip
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    err_path = data_dir.parent / f"{data_dir.name}.stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nwc_signer.cli", "dev", "--data-dir", str(data_dir),
             "--no-qr", *ports, *args],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            cwd=REPO_ROOT,
        )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                raise AssertionError(f"nwc-signer dev exited without a URI:\n"
                                     f"{err_path.read_text()[-3000:]}")  # fmt: skip
            seen.append(line)
            if line.startswith("nostr+walletconnect://"):
                remember_secret(line.split("secret=")[1].split("&")[0])
                break
        yield DevRun(proc, line, f"ws://127.0.0.1:{relay_port}", seen, err_path)
    except queue.Empty:
        raise AssertionError(f"no URI within {timeout:.0f} s:\n"
                             f"{err_path.read_text()[-3000:]}") from None  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("nwc-signer dev did not stop on SIGTERM") from None


def fetch(relays: list[str], flt: dict[str, Any], timeout: float = 5) -> list[dict[str, Any]]:
    """Stored events matching `flt`, asked of the relays once (no waiting for more)."""

    async def ask() -> list[dict[str, Any]]:
        client = ns.ClientBuilder().build()
        for url in relays:
            await client.add_relay(ns.RelayUrl.parse(url))
        await client.connect(timedelta(seconds=5))
        target = ns.ReqTarget.auto([ns.Filter.from_json(json.dumps(flt))])
        found = await client.fetch_events(target, timedelta(seconds=timeout))
        await client.shutdown()
        return [json.loads(e.as_json()) for e in found]

    return list(run(ask(), timeout + 10))
