"""The signer function's runtimes in the dev stack: `local` (functions.local over HTTP, warm
or --cold: a fresh interpreter per delivery), `lambda` (the real Lambda handler behind
the Function-URL emulator on moto_server, nwc_signer/dev/aws.py), `cloudflare` (the
Worker in Pyodide on Node over miniflare's R2 and D1, nwc_signer/dev/cloudflare.py) and
`deno` (main.ts in Deno over Deno KV, nwc_signer/dev/deno.py). Each
is a context manager factory (data_dir, port, cold) yielding the URL the watcher posts to;
it serves when the `with` block is entered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nwc_signer.dev.process import REPO_ROOT

log = logging.getLogger("nwc_signer.dev.runtimes")
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
    (each delivery in a fresh interpreter, nwc_signer/dev/cold.py). Yields its URL."""
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
                    [sys.executable, "-m", "nwc_signer.dev.cold", folder],
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


def lambda_runtime(data_dir: Path, port: int, cold: bool) -> ContextManager[str]:
    """The real Lambda handler behind a Function-URL emulator on moto_server (imported
    only when chosen: it pulls boto3 and moto)."""
    from nwc_signer.dev.aws import lambda_runtime as runtime

    return runtime(data_dir, port, cold)


def cloudflare_runtime(data_dir: Path, port: int, cold: bool) -> ContextManager[str]:
    """functions/cloudflare/worker.py in Pyodide on Node over miniflare's R2 and D1
    (nwc_signer/dev/cloudflare.py; needs the npm packages `scripts/bootstrap.sh` installs)."""
    from nwc_signer.dev.cloudflare import cloudflare_runtime as runtime

    return runtime(data_dir, port, cold)


def deno_runtime(data_dir: Path, port: int, cold: bool) -> ContextManager[str]:
    """functions/deno/main.ts (Pyodide behind Deno.serve) in the npm `deno` binary over a
    real Deno KV (nwc_signer/dev/deno.py; needs the npm packages `scripts/bootstrap.sh`
    installs)."""
    from nwc_signer.dev.deno import deno_runtime as runtime

    return runtime(data_dir, port, cold)


FUNCTION_RUNTIMES: dict[str, Callable[[Path, int, bool], ContextManager[str]]] = {
    "local": local_runtime,
    "lambda": lambda_runtime,
    "cloudflare": cloudflare_runtime,
    "deno": deno_runtime,
    "vercel": lambda d, p, c: __import__("nwc_signer.dev.vercel", fromlist=["_"]).vercel_runtime(d, p, c),  # noqa: E501
}


def start_function_runtime(
    kind: str, data_dir: Path, port: int, *, cold: bool = False
) -> ContextManager[str]:
    try:
        factory = FUNCTION_RUNTIMES[kind]
    except KeyError:
        raise SystemExit(f"nwc-signer dev: unknown runtime {kind!r}") from None
    return factory(data_dir, port, cold)
