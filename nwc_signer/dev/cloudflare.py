"""The Cloudflare side of a local stack: `functions/cloudflare/worker.py` in Pyodide on Node
(`pyodide_host.mjs serve`), over miniflare's R2 (state) and D1 (rollback guard), offline.

`nwc-signer dev --runtime cloudflare` and the tests use it. As with the Lambda runtime, the
wallet is made in a local folder and the Worker's bucket is seeded from it; in dev a small
proxy in front of the host keeps the folder and the bucket on the newest generation
(nwc_signer/dev/mirror.py), so `connection add` in another terminal reaches the Worker.
The host's `/__admin/` routes (state object, guard) exist only with `--admin`, on loopback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from nwc_signer.dev.mirror import FolderMirror
from nwc_signer.dev.process import REPO_ROOT, Supervised, Supervisor, free_port, http_probe
from signer_core.stores.base import StoreUnavailable, VersionConflict

log = logging.getLogger("nwc_signer.dev.cloudflare")

HOST_DIR = REPO_ROOT / "functions" / "cloudflare"
NODE = HOST_DIR / "node_modules" / ".bin" / "node"
VENDORED = REPO_ROOT / ".venv-pyodide" / "python_modules"
MAX_BODY = 512 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def host_missing() -> str | None:
    """Why the Pyodide host cannot start here (None when it can)."""
    if not NODE.exists():
        return f"{NODE} is missing: run `bash scripts/bootstrap.sh` (npm ci in {HOST_DIR})"
    if not (VENDORED / "httpx").exists() or not (VENDORED / "pydantic").exists():
        return f"{VENDORED} is incomplete: run `bash scripts/bootstrap.sh`"
    return None


class HostAdminStore:
    """``StateStore`` over the host's `/__admin/state` route: the Worker's R2 object, with
    the same compare-and-swap (If-Match on the etag; create-only when no version is given)."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.url = base_url + "/__admin/state"
        self.http = http

    def read(self) -> tuple[bytes, str] | None:
        res = self._call("GET")
        if res.status_code == 404:
            return None
        res.raise_for_status()
        return res.content, res.headers["etag"]

    def write(self, blob: bytes, expected_version: str | None) -> str:
        headers = {"if-match": expected_version} if expected_version is not None else {}
        res = self._call("PUT", content=blob, headers=headers)
        if res.status_code == 412:
            raise VersionConflict("the Worker's state changed")
        res.raise_for_status()
        return res.headers["etag"]

    def _call(self, method: str, **kw: object) -> httpx.Response:
        try:
            return self.http.request(method, self.url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise StoreUnavailable(
                f"the Pyodide host did not answer ({type(exc).__name__})"
            ) from None


class HostAdminGuard:
    """``GenerationGuard`` over the host's `/__admin/guard` routes: the Worker's D1 row."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.url = base_url + "/__admin/guard"
        self.http = http

    def high_water(self) -> int:
        res = self.http.get(self.url)
        res.raise_for_status()
        return int(res.text)

    def advance(self, generation: int) -> None:
        self.http.post(f"{self.url}/{int(generation)}").raise_for_status()


class PyodideWorkerHost(Supervised):
    """`node pyodide_host.mjs serve`: the Worker of one wallet folder (its root secret,
    watcher key and wallet id as the Worker's secret and variables), on 127.0.0.1:port."""

    def __init__(
        self,
        data_dir: Path,
        persist: Path,
        *,
        port: int = 0,
        cold: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        from functions.local.datadir import DataDir

        self.folder = DataDir(data_dir)
        self.persist = persist
        self.port = port or free_port()
        self.cold = cold
        self.settings = settings or {}  # NWC_* overrides (tests: a Worker not configured)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> PyodideWorkerHost:
        missing = host_missing()
        if missing:
            raise RuntimeError(f"the Cloudflare runtime is not installed: {missing}")
        cfg = self.folder.config()
        env = {
            **os.environ,
            "NWC_ROOT_SECRET": self.folder.secrets().root_secret.hex(),
            "NWC_WATCHER_PUBKEY": cfg.watcher_pubkey,
            "NWC_WALLET_ID": cfg.wallet_id,
            **self.settings,
        }
        argv = [str(NODE), "--experimental-wasm-jspi", "pyodide_host.mjs", "serve",
                "--port", str(self.port), "--persist", str(self.persist), "--admin"]  # fmt: skip
        if self.cold:
            argv.append("--cold")
        self._child = Supervisor(
            "Pyodide Worker host", argv, ready=http_probe(self.url + "/health"),
            log_path=self.persist / "host.log", env=env, cwd=HOST_DIR, start_timeout=120,
        )  # fmt: skip
        self._child.start()
        return self

    def __enter__(self) -> PyodideWorkerHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _proxy(target: str, mirror: FolderMirror, http: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        """Forwards to the Worker host, the folder pushed before and pulled after."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(min(max(length, 0), MAX_BODY)) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                mirror.push()
                res = http.request(self.command, target + self.path, content=body,
                                   headers=headers)  # fmt: skip
                mirror.pull()
                status, out = res.status_code, res.content
                reply = [(k, v) for k, v in res.headers.items() if k.lower() not in HOP_BY_HOP]
            except (httpx.HTTPError, StoreUnavailable) as exc:
                log.error("the Pyodide host failed: %s", type(exc).__name__)
                status, out = 502, b'{"message":"the Pyodide Worker host did not answer"}'
                reply = [("content-type", "application/json")]
            self.send_response(status)
            for key, value in reply:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("cloudflare proxy: " + format, *args)

    return Proxy


@contextlib.contextmanager
def cloudflare_runtime(data_dir: Path, port: int, cold: bool = False) -> Iterator[str]:
    """`nwc-signer dev --runtime cloudflare`: the Worker in Pyodide behind a proxy on
    127.0.0.1:port that mirrors the wallet folder. `cold` loads a fresh Pyodide (a new
    isolate) for every request. Yields the URL the watcher posts to. miniflare's files and
    the host's log are kept in `data_dir/cloudflare/`."""
    with contextlib.ExitStack() as stack:
        persist = Path(data_dir) / "cloudflare"
        host = stack.enter_context(PyodideWorkerHost(data_dir, persist, cold=cold))
        http = stack.enter_context(httpx.Client(timeout=120))
        mirror = FolderMirror(data_dir, HostAdminStore(host.url, http),
                              HostAdminGuard(host.url, http))  # fmt: skip
        mirror.push()
        server = ThreadingHTTPServer(("127.0.0.1", port), _proxy(host.url, mirror, http))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
        thread.daemon = True
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
            mirror.pull()
