"""The signer on Vercel: `api/webhook.py` of the deployed project (docs/vercel.md).

Vercel's Python runtime (vercel-runtime's ``vc_init.py``) imports this file and, finding a
top-level ``handler`` that subclasses ``BaseHTTPRequestHandler``, serves it on its own
``ThreadingHTTPServer`` as ``class Handler(BaseHandler, handler)``: its ``BaseHandler`` reads
the request line and headers, then calls our ``do_<METHOD>``. So this module is the whole
function: the standard library and ``signer_core``, no framework (no ASGI server to import on
a cold start, nothing for the runtime's framework detection to guess at).

POST /api/webhook is the webhook contract of docs/webhook.md through the same pipeline as
functions/local (``handle_webhook``); GET answers ``{"ok":true}``. The configuration is the
project's environment, read on the first request of an instance (and again if it changes),
so a missing variable is a clear 503 "not configured" answer naming it (never its value), not
an import crash; a project made by the "Deploy with Vercel" button answers that until
``nwc-signer deploy vercel --project <it>`` has set the wallet's variables:

    ROOT_SECRET            64 hex (a sensitive variable)     WATCHER_PUBKEY   64 hex (x-only)
    WALLET_ID              the wallet's id                   BLOB_READ_WRITE_TOKEN  the store
    VERCEL_BLOB_API_URL    optional (the SDK's own override; only the local fake sets it)
    NWC_SIGNER_BLOB_STORE_URL  optional, where blob contents are read (only the local fake)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from signer_core.entrypoint import NotConfigured, settings
from signer_core.pipeline import SignerConfig, WebhookRequest, handle_webhook
from signer_core.protocol.text import parse_uint
from signer_core.protocol.webhook import MAX_BODY_BYTES, WebhookResponse, encode_response
from signer_core.session import Secrets
from signer_core.stores.vercel_blob import VercelBlobGuard, VercelBlobStore

log = logging.getLogger("nwc_signer.vercel")

WEBHOOK_PATHS = ("/api/webhook", "/", "/webhook")
HEALTH_PATHS = ("/api/webhook", "/health", "/api/webhook/health")
ALLOW = "GET, HEAD, POST"
ENV_NAMES = (
    "ROOT_SECRET",
    "WATCHER_PUBKEY",
    "WALLET_ID",
    "BLOB_READ_WRITE_TOKEN",
    "VERCEL_BLOB_API_URL",
    "NWC_SIGNER_BLOB_STORE_URL",
)


CONFIGURE_HINT = "run `nwc-signer deploy vercel --project <this project>` (docs/vercel-deploy.md)"


class SettingsError(Exception):
    """A required environment variable is missing or malformed (a deploy mistake)."""


@dataclass(frozen=True)
class Runtime:
    """What one warm instance keeps: the config, the secret, the two blobs' clients."""

    config: SignerConfig
    secrets: Secrets
    store: VercelBlobStore
    guard: VercelBlobGuard

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Runtime:
        try:
            config, secrets = settings(
                env.get("ROOT_SECRET"), env.get("WATCHER_PUBKEY"), env.get("WALLET_ID"),
                hint=CONFIGURE_HINT,
            )  # fmt: skip
        except NotConfigured as exc:
            raise SettingsError(str(exc)) from None
        wallet_id = config.wallet_id
        if "/" in wallet_id or not wallet_id.isascii():
            raise SettingsError("not configured: WALLET_ID is not a plain id")
        token = env.get("BLOB_READ_WRITE_TOKEN", "").strip()
        if not token:
            raise SettingsError(
                "not configured: BLOB_READ_WRITE_TOKEN not set; connect a private Blob store "
                "to the project (" + CONFIGURE_HINT + ")"
            )
        api_url = env.get("VERCEL_BLOB_API_URL", "").strip() or None
        store_url = env.get("NWC_SIGNER_BLOB_STORE_URL", "").strip() or None
        try:
            store, guard_store = (
                VercelBlobStore(
                    token, f"nwc-signer/{wallet_id}/{name}", api_url=api_url, store_url=store_url
                )
                for name in ("wallet.sealed", "generation")
            )
        except ValueError:
            raise SettingsError(
                "not configured: BLOB_READ_WRITE_TOKEN is not a Vercel Blob read-write token "
                "(connect a private Blob store to the project)"
            ) from None
        return cls(
            config=config,
            secrets=secrets,
            store=store,
            guard=VercelBlobGuard(guard_store),
        )


_lock = threading.Lock()
_warm: tuple[tuple[str, ...], Runtime] | None = None


def runtime(env: Mapping[str, str] | None = None) -> Runtime:
    """The instance's runtime, rebuilt only when the environment changed (tests, dev)."""
    global _warm
    env = os.environ if env is None else env
    key = tuple(env.get(name, "") for name in ENV_NAMES)
    with _lock:
        if _warm is None or _warm[0] != key:
            _warm = (key, Runtime.from_env(env))
        return _warm[1]


def deliver(headers: Mapping[str, str], body: bytes) -> WebhookResponse:
    """One delivery, raw headers and body as the watcher sent them."""
    try:
        rt = runtime()
    except SettingsError as exc:  # the watcher retries a 503; the message names the setting
        return WebhookResponse(503, message=str(exc))
    return handle_webhook(
        WebhookRequest(headers, body),
        store=rt.store,
        guard=rt.guard,
        secrets=rt.secrets,
        config=rt.config,
    )


class handler(BaseHTTPRequestHandler):  # noqa: N801 (the name Vercel's runtime looks for)
    """The function. Every answer, errors included, is JSON in the contract's shape."""

    server_version = "nwc-signer"
    sys_version = ""

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, **extra: str) -> None:
        code, headers, body = encode_response(WebhookResponse(status, message=message))
        self._send(code, {**headers, **extra}, body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors as JSON; a stranger's bad request is never a 5xx."""
        self.close_connection = True
        if code == 501:  # a method with no do_X
            self._error(405, f"method {self.command!r} not allowed", Allow=ALLOW)
            return
        self._error(400 if code >= 500 else code, message or "bad request")

    def _route(self) -> str:
        return self.path.split("?", 1)[0]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self._route() in HEALTH_PATHS:
            self._send(200, {"Content-Type": "application/json"}, b'{"ok":true}')
        else:
            self._error(404, "not found")

    do_HEAD = do_GET  # noqa: N815

    def _not_allowed(self) -> None:
        self._error(405, f"method {self.command} not allowed", Allow=ALLOW)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802
        if self._route() not in WEBHOOK_PATHS:
            self.close_connection = True
            self._error(404, "not found")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            response = deliver(dict(self.headers.items()), body)
        except Exception:  # handle_webhook never raises; this is the last guard
            log.exception("unexpected failure in the Vercel function")
            response = WebhookResponse(500, message="internal error")
        self._send(*encode_response(response))

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length, or chunked as a proxy may forward it), or None
        after answering why it was refused."""
        self.close_connection = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._error(411, "Content-Length required")
            return None
        length = parse_uint(raw.strip(), max_digits=18)
        if length is None:
            self._error(400, "Content-Length is not a decimal number")
            return None
        if length > MAX_BODY_BYTES:
            self._error(413, f"body larger than {MAX_BODY_BYTES} bytes")
            return None
        try:
            body = self.rfile.read(length)
        except OSError:
            body = b""
        if len(body) != length:
            self._error(400, "request body incomplete")
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                n = (
                    int(line, 16)
                    if line and all(c in b"0123456789abcdefABCDEF" for c in line)
                    else -1
                )
                if n < 0:
                    self._error(400, "malformed chunked body")
                    return None
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                size += n
                if size > MAX_BODY_BYTES:
                    self._error(413, f"body larger than {MAX_BODY_BYTES} bytes")
                    return None
                chunk = self.rfile.read(n)
                if len(chunk) != n or self.rfile.readline(3).strip():
                    self._error(400, "malformed chunked body")
                    return None
                parts.append(chunk)
        except OSError:
            self._error(400, "request body incomplete")
            return None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http: " + format, *args)
