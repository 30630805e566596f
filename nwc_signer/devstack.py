"""The pieces of the local stack, shared by `nwc-signer dev`, the end-to-end tests and
scripts/bench_e2e.py: function runtimes, the watcher process, wallet registration.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from nwc_signer.devmint import free_port, stop_process

log = logging.getLogger("nwc_signer.devstack")
REPO_ROOT = Path(__file__).resolve().parent.parent
COLD_TIMEOUT_S = 60


def _serve_in_thread(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _keep_alive(server: ThreadingHTTPServer) -> None:
    """HTTP/1.1 keep-alive and no Nagle: the watcher reuses one connection, and a response's
    header and body writes do not wait on a delayed ACK (~40 ms each on loopback)."""
    handler = server.RequestHandlerClass
    handler.protocol_version = "HTTP/1.1"  # type: ignore[attr-defined]
    handler.disable_nagle_algorithm = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def local_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """The local function over HTTP: warm (one process, functions.local.server) or cold
    (each delivery in a fresh interpreter, nwc_signer/devcold.py). Yields its URL."""
    if not cold:
        from functions.local.server import make_server

        server = make_server(data_dir, "127.0.0.1", port)
        _keep_alive(server)
        yield from _serve_in_thread(server)
        return
    folder = str(Path(data_dir).resolve())

    class Cold(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(min(max(length, 0), 512 * 1024))
            child = json.dumps({"headers": dict(self.headers.items()), "body": body.decode()})
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "nwc_signer.devcold", folder],
                    input=child.encode(), capture_output=True, timeout=COLD_TIMEOUT_S,
                    cwd=REPO_ROOT, check=False,
                )  # fmt: skip
                out = json.loads(done.stdout)
                status, headers, payload = out["status"], out["headers"], out["body"].encode()
            except (subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                log.error("cold function run failed: %s", type(exc).__name__)
                status, headers = 500, {"Content-Type": "application/json"}
                payload = b'{"message":"cold run failed"}'
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("cold http: " + format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Cold)
    _keep_alive(server)
    yield from _serve_in_thread(server)


class WatcherProcess:
    """`python -m relay_watcher serve` as a child process; stop() leaves nothing behind."""

    def __init__(self, data_dir: Path, key_file: Path, port: int = 0, *extra: str) -> None:
        self.data_dir, self.key_file = Path(data_dir), Path(key_file)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.log_path = self.data_dir / "watcher.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> WatcherProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "relay_watcher", "serve", "--data-dir", str(self.data_dir),
               "--key-file", str(self.key_file), "--port", str(self.port), "--allow-private-function-urls", *self.extra]  # fmt: skip  # noqa: E501
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_ROOT
            )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the watcher exited during start-up:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                        return self
                time.sleep(0.1)
        except BaseException:  # Ctrl-C / SIGTERM while waiting: leave no child behind
            self.stop()
            raise
        self.stop()
        raise RuntimeError(f"the watcher did not start within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no watcher log)"

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace=15)

    def __enter__(self) -> WatcherProcess:
        return self if self.proc is not None else self.start()

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
    res = httpx.request(method, watcher_url + path, content=body, headers=headers, timeout=10)
    if res.status_code != 200:
        raise RuntimeError(f"the watcher refused the registration: HTTP {res.status_code} "
                           f"{res.json().get('message', '') if res.content else ''}")  # fmt: skip
    return dict(res.json())


class ConnectionWatch:
    """Re-registers the wallet when its set of connections changes (`connection add` or
    `revoke` in another terminal while `nwc-signer dev` runs): polls the blob header."""

    def __init__(self, data_dir: Path, register: object, interval_s: float = 2.0) -> None:
        self.data_dir, self.register, self.interval_s = data_dir, register, interval_s
        self.known = service_pubkeys(data_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                now = service_pubkeys(self.data_dir)
                if now != self.known:
                    self.register()  # type: ignore[operator]
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
