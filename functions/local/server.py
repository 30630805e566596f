"""`nwc-signer function serve`: the local function over HTTP (POST /, GET /health).

Served like a real server because the watcher hits it in bursts and strangers can reach it:
a listen backlog that holds a burst (the stdlib default of 5 drops the SYNs of the rest), a
deadline on reading each request (a short or slow body cannot hold a thread), 405 with
`Allow` for other methods, 411/413 for bodies we will not read, and every answer — errors
included — a JSON body in the webhook contract's shape, never an HTML page or a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from functions.local import LocalFunction
from signer_core.protocol.text import parse_uint
from signer_core.protocol.webhook import MAX_BODY_BYTES, WebhookResponse, encode_response

log = logging.getLogger("nwc_signer.local")

BACKLOG = 1024  # pending connections the kernel queues before we accept them
READ_TIMEOUT_S = 10.0  # whole request (line, headers, body) must arrive within this
ALLOW = "GET, HEAD, POST"
WEBHOOK_PATHS = ("/", "/webhook")


class _Server(ThreadingHTTPServer):
    request_queue_size = BACKLOG
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is routine: one line, no traceback."""
        log.info("connection from %s ended early", client_address[0])


def _json_answer(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return encode_response(WebhookResponse(status, message=message))


def make_server(data_dir: str | os.PathLike[str], host: str, port: int) -> ThreadingHTTPServer:
    function = LocalFunction(data_dir)
    read_timeout = READ_TIMEOUT_S

    class Handler(BaseHTTPRequestHandler):
        server_version = "nwc-signer"
        sys_version = ""
        timeout = read_timeout  # each recv; the deadline below bounds the whole request

        # --- the read deadline ----------------------------------------------------------

        def handle_one_request(self) -> None:
            self._reading = True
            self._cut = False
            self._lock = threading.Lock()
            timer = threading.Timer(read_timeout, self._cut_off)
            timer.daemon = True
            timer.start()
            try:
                super().handle_one_request()
            finally:
                timer.cancel()

        def _cut_off(self) -> None:
            """Deadline passed while still reading: end the reads (the answer can still go)."""
            with self._lock:
                if not self._reading:
                    return
                self._cut = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RD)

        def _done_reading(self) -> bool:
            """Stop the deadline; False if it already cut this request off."""
            with self._lock:
                self._reading = False
                return not self._cut

        # --- answers ----------------------------------------------------------------------

        def _send(
            self, status: int, headers: dict[str, str], body: bytes, *, head: bool = False
        ) -> None:
            if self.request_version == "HTTP/0.9":  # HTTP/0.9 answers have no status line
                self.request_version = "HTTP/1.0"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(body)
            self.close_connection = True

        def _error(self, status: int, message: str, **extra: str) -> None:
            code, headers, body = _json_answer(status, message)
            self._send(code, {**headers, **extra}, body, head=self.command == "HEAD")

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """http.server's own errors (bad request line, huge headers, unknown method) as
            JSON; a stranger's malformed request is never a 5xx."""
            self._done_reading()
            if code == 501:  # a method we have no do_X for
                self._error(405, f"method {self.command!r} not allowed", Allow=ALLOW)
                return
            if code >= 500:
                code = 400
            self._error(code, message or self.responses.get(code, ("error",))[0])

        # --- methods ----------------------------------------------------------------------

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._done_reading()
            head = self.command == "HEAD"
            if self.path == "/health":
                self._send(200, {"Content-Type": "application/json"}, b'{"ok":true}', head=head)
            else:
                self._error(404, "not found")

        do_HEAD = do_GET  # noqa: N815

        def _not_allowed(self) -> None:
            self._done_reading()
            self._error(405, f"method {self.command} not allowed", Allow=ALLOW)

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            if self.path not in WEBHOOK_PATHS:
                self._done_reading()
                self._error(404, "not found")
                return
            body = self._read_body()
            if body is None:
                return
            try:
                response = function.handle(dict(self.headers.items()), body)
            except Exception:  # handle_webhook never raises; this is the last guard
                log.exception("unexpected failure in the local function")
                response = WebhookResponse(500, message="internal error")
            self._send(*encode_response(response))

        def _read_body(self) -> bytes | None:
            """The announced body, or None after answering why it was refused."""
            if "Transfer-Encoding" in self.headers:
                self._done_reading()
                self._error(411, "send the body with a Content-Length, not chunked")
                return None
            raw = self.headers.get("Content-Length")
            if raw is None:
                self._done_reading()
                self._error(411, "Content-Length required")
                return None
            length = parse_uint(raw.strip(), max_digits=18)
            if length is None:
                self._done_reading()
                self._error(400, "Content-Length is not a decimal number")
                return None
            if length > MAX_BODY_BYTES:
                self._done_reading()
                self._error(413, f"body larger than {MAX_BODY_BYTES} bytes")
                return None
            try:
                body = self.rfile.read(length)
            except OSError:  # per-recv timeout, or a reset
                body = b""
            if not self._done_reading() or len(body) != length:
                self._error(408, "request body incomplete or too slow")
                return None
            return body

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("http: " + format, *args)

    return _Server((host, port), Handler)


def serve(data_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8787) -> None:
    server = make_server(data_dir, host, port)
    log.info("serving the signer function on http://%s:%d", *server.server_address[:2])
    try:
        server.serve_forever()
    finally:
        server.server_close()
