"""`nwc-signer function serve`: the local function over HTTP (POST /, GET /health)."""

from __future__ import annotations

import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from functions.local import LocalFunction
from signer_core.protocol.webhook import MAX_BODY_BYTES, encode_response

log = logging.getLogger("nwc_signer.local")


def make_server(data_dir: str | os.PathLike[str], host: str, port: int) -> ThreadingHTTPServer:
    function = LocalFunction(data_dir)

    class Handler(BaseHTTPRequestHandler):
        server_version = "nwc-signer"

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self._send(200, {"Content-Type": "application/json"}, b'{"ok":true}')
            else:
                self._send(404, {"Content-Type": "application/json"}, b'{"message":"not found"}')

        def do_POST(self) -> None:  # noqa: N802
            if self.path not in ("/", "/webhook"):
                self._send(404, {"Content-Type": "application/json"}, b'{"message":"not found"}')
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self._send(413, {"Content-Type": "application/json"}, b'{"message":"bad length"}')
                return
            body = self.rfile.read(length)
            response = function.handle(dict(self.headers.items()), body)
            self._send(*encode_response(response))

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("http: " + format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(data_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8787) -> None:
    server = make_server(data_dir, host, port)
    log.info("serving the signer function on http://%s:%d", *server.server_address[:2])
    try:
        server.serve_forever()
    finally:
        server.server_close()
