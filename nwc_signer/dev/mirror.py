"""Dev-only: keep a wallet folder and a cloud runtime's state store on the newest generation.

The wallet folder (`--data-dir`) stays the place the CLI administers (`connection add` in
another terminal writes there); the runtime's own store (moto's S3, miniflare's R2, Deno KV)
is where the function reads and writes. Before each invocation a newer folder blob is
pushed, after it a newer remote blob is pulled back, so restarting on the same folder keeps
the wallet. The Pyodide hosts (Cloudflare, Deno) expose their store through test/dev-only
`/__admin/` routes on loopback; `mirrored_proxy` puts the mirroring proxy in front of one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from signer_core.stores.base import (
    GenerationGuard,
    StateStore,
    StoreUnavailable,
    VersionConflict,
)

log = logging.getLogger("nwc_signer.dev.mirror")
MAX_BODY = 512 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def generation(found: tuple[bytes, str] | None) -> int:
    from signer_core.vault.sealed import parse

    return 0 if found is None else parse(found[0]).generation


class FolderMirror:
    """A wallet folder and one remote (store, guard) pair, synced by generation number."""

    def __init__(self, data_dir: Path, remote: StateStore, remote_guard: GenerationGuard) -> None:
        from functions.local.datadir import DataDir

        folder = DataDir(data_dir)
        self.local, self.local_guard = folder.store(), folder.guard()
        self.remote, self.remote_guard = remote, remote_guard
        self.lock = threading.Lock()

    def push(self) -> None:
        with self.lock:
            mine, theirs = self.local.read(), self.remote.read()
            if mine is not None and generation(mine) > generation(theirs):
                self.remote.write(mine[0], None if theirs is None else theirs[1])
                self.remote_guard.advance(generation(mine))

    def pull(self) -> None:
        with self.lock:
            mine, theirs = self.local.read(), self.remote.read()
            if theirs is not None and generation(theirs) > generation(mine):
                self.local.write(theirs[0], None if mine is None else mine[1])
                self.local_guard.advance(generation(theirs))


class HostAdminStore:
    """``StateStore`` over the host's `/__admin/state` route: the runtime's state object,
    with the same compare-and-swap (If-Match on the etag; create-only when no version is given)."""

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
            raise VersionConflict("the runtime's state changed")
        res.raise_for_status()
        return res.headers["etag"]

    def _call(self, method: str, **kw: object) -> httpx.Response:
        try:
            return self.http.request(method, self.url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise StoreUnavailable(
                f"the function host did not answer ({type(exc).__name__})"
            ) from None


class HostAdminGuard:
    """``GenerationGuard`` over the host's `/__admin/guard` routes: the runtime's guard."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.url = base_url + "/__admin/guard"
        self.http = http

    def high_water(self) -> int:
        res = self.http.get(self.url)
        res.raise_for_status()
        return int(res.text)

    def advance(self, generation: int) -> None:
        self.http.post(f"{self.url}/{int(generation)}").raise_for_status()


def proxy_handler(
    target: str, mirror: FolderMirror, http: httpx.Client
) -> type[BaseHTTPRequestHandler]:
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
                log.error("the function host failed: %s", type(exc).__name__)
                status, out = 502, b'{"message":"the function host did not answer"}'
                reply = [("content-type", "application/json")]
            self.send_response(status)
            for key, value in reply:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("mirror proxy: " + format, *args)

    return Proxy


def host_mirror(data_dir: Path, host_url: str, http: httpx.Client) -> FolderMirror:
    """The wallet folder and a host's store (state and guard, over `/__admin/`)."""
    return FolderMirror(data_dir, HostAdminStore(host_url, http), HostAdminGuard(host_url, http))


@contextlib.contextmanager
def mirrored_proxy(host_url: str, data_dir: Path, port: int) -> Iterator[str]:
    """A proxy on 127.0.0.1:port in front of a host with `/__admin/` routes, keeping
    `data_dir` and the host's store on the newest generation; yields the proxy's URL."""
    with httpx.Client(timeout=120) as http:
        mirror = host_mirror(data_dir, host_url, http)
        mirror.push()
        server = ThreadingHTTPServer(("127.0.0.1", port), proxy_handler(host_url, mirror, http))
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
