"""A loopback fake of the Vercel Blob API (one private store), with its documented
conditional semantics, for `nwc-signer dev --runtime vercel` and the tests.

One HTTP server answers both hosts the SDK talks to:

    PUT  /api/blob/?pathname=P          put(): x-if-match -> 412 {"error":{"code":
                                        "precondition_failed"}} unless it is the blob's
                                        current ETag (or the blob is missing); without
                                        x-allow-overwrite: 1 an existing blob is refused with
                                        400 bad_request "This blob already exists, ..." (the
                                        SDK's 2.x default); the answer is put()'s JSON
    GET  /api/blob?url=P                head(): the blob's metadata JSON, 404 not_found
    POST /api/blob/delete               del(): {"urls": [...]}, x-if-match honoured
    GET  /P[?cache=0]                   get() on <store id>.private.blob.vercel-storage.com:
                                        the bytes with ETag, Last-Modified; 404

Private store: every request needs ``authorization: Bearer <the token>`` (403 forbidden),
and a put must say ``x-vercel-blob-access: private``. ETags are quoted strong tags, new on
every write. Two behaviours of the real service that a wrong client would trip over are
modelled on demand: ``stale_reads`` (a read without ``cache=0`` is served the previous
version, as the CDN may for 60 s after an overwrite) and ``weak_etags`` (content reads
carry ``W/"..."``, as a compressing proxy makes them). Faults for the conformance suite
(``fault``) hit one pathname only. Every request is recorded (``requests``) so a test can
compare it with what the real ``@vercel/blob`` SDK sends.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["FAULTS", "BlobApiFake", "Recorded", "StoredBlob"]

FAULTS = ("conflict_once", "conflict_always", "read_down", "write_down")
EXISTS = (
    "This blob already exists, use `allowOverwrite: true` if you want to overwrite it. "
    "Or `addRandomSuffix: true` to generate a unique filename."
)


@dataclass
class StoredBlob:
    body: bytes
    etag: str
    uploaded_at: float
    content_type: str = "application/octet-stream"
    previous: tuple[bytes, str] | None = None  # a CDN's older copy (stale_reads)


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = field(repr=False, default=b"")


class BlobApiFake:
    """The fake store; ``with BlobApiFake(...) as fake:`` serves it on 127.0.0.1."""

    def __init__(self, store_id: str = "fakestore1", *, host: str = "127.0.0.1", port: int = 0):
        self.store_id = store_id
        self.token = (
            f"vercel_blob_rw_{store_id}_{hashlib.sha256(store_id.encode()).hexdigest()[:24]}"
        )
        self.blobs: dict[str, StoredBlob] = {}
        self.requests: list[Recorded] = []
        self.stale_reads = False
        self.weak_etags = False
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._fault: tuple[str, str] | None = None  # (kind, pathname)
        self.faults_injected = 0
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- life ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What ``VERCEL_BLOB_API_URL`` is set to for clients of the fake."""
        return f"{self.url}/api/blob"

    def start(self) -> BlobApiFake:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BlobApiFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- test helpers --------------------------------------------------------------------

    @contextmanager
    def fault(self, kind: str, pathname: str) -> Iterator[Any]:
        """Make requests on ``pathname`` fail one way while the block runs; yields a
        callable counting the faults injected."""
        assert kind in FAULTS, kind
        with self._lock:
            self._fault = (kind, pathname)
            self.faults_injected = 0
        try:
            yield lambda: self.faults_injected
        finally:
            with self._lock:
                self._fault = None

    def _faulted(self, op: str, pathname: str) -> str | None:
        """The fault to answer with for this request, if any (counted)."""
        with self._lock:
            if self._fault is None or self._fault[1] != pathname:
                return None
            kind = self._fault[0]
            hit = (
                (kind == "read_down" and op == "read")
                or (kind == "write_down" and op == "write")
                or (kind in ("conflict_once", "conflict_always") and op == "write")
            )
            if not hit:
                return None
            if kind == "conflict_once":
                self._fault = None
            self.faults_injected += 1
            return kind

    def _new_etag(self, body: bytes) -> str:
        digest = hashlib.sha256(body + str(next(self._counter)).encode()).hexdigest()[:32]
        return f'"{digest}"'

    # --- HTTP ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # no Nagle: a response's header and body writes must not wait on a delayed ACK
            # (~40 ms per request on loopback)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _body(self) -> bytes:
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status: int, data: object) -> None:
                body = json.dumps(data).encode()
                self._answer(status, body, {"content-type": "application/json"})

            def _error(self, status: int, code: str, message: str = "") -> None:
                self._json(status, {"error": {"code": code, "message": message or code}})

            def _route(self) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                query = parse_qsl(parts.query, keep_blank_values=True)
                with fake._lock:
                    fake.requests.append(Recorded(self.command, parts.path, query, headers, body))
                if headers.get("authorization") != f"Bearer {fake.token}":
                    self._error(403, "forbidden", "Access denied")
                    return
                args = dict(query)
                if parts.path in ("/api/blob", "/api/blob/"):
                    if self.command == "PUT":
                        self._put(args.get("pathname", ""), headers, body)
                    elif self.command == "GET":
                        self._head(args.get("url", ""))
                    else:
                        self._error(400, "bad_request", "unsupported method")
                elif parts.path == "/api/blob/delete" and self.command == "POST":
                    self._delete(body, headers)
                elif self.command in ("GET", "HEAD") and not parts.path.startswith("/api/"):
                    self._content(unquote(parts.path[1:]), args.get("cache") == "0")
                else:
                    self._error(404, "not_found", "no such route")

            do_GET = do_PUT = do_POST = do_HEAD = _route  # noqa: N815

            def _meta(self, pathname: str, blob: StoredBlob) -> dict[str, Any]:
                url = f"https://{fake.store_id}.private.blob.vercel-storage.com/{pathname}"
                return {
                    "url": url,
                    "downloadUrl": url + "?download=1",
                    "pathname": pathname,
                    "contentType": blob.content_type,
                    "contentDisposition": f'attachment; filename="{pathname.rsplit("/", 1)[-1]}"',
                    "etag": blob.etag,
                    "size": len(blob.body),
                    "uploadedAt": formatdate(blob.uploaded_at, usegmt=True),
                    "cacheControl": "public, max-age=2592000",
                }

            def _put(self, pathname: str, headers: dict[str, str], body: bytes) -> None:
                import time

                if not pathname:
                    self._error(400, "bad_request", "pathname is required")
                    return
                if headers.get("x-vercel-blob-access") != "private":
                    self._error(400, "bad_request", "Cannot use public access on a private store")
                    return
                fault = fake._faulted("write", pathname)
                if fault == "write_down":
                    self._error(503, "service_unavailable")
                    return
                if fault in ("conflict_once", "conflict_always"):
                    self._error(412, "precondition_failed", "Precondition failed: ETag mismatch")
                    return
                if_match = headers.get("x-if-match")
                overwrite = headers.get("x-allow-overwrite") == "1"
                with fake._lock:
                    current = fake.blobs.get(pathname)
                    if if_match is not None and (current is None or current.etag != if_match):
                        status: tuple[int, str, str] | None = (
                            412,
                            "precondition_failed",
                            "Precondition failed: ETag mismatch",
                        )
                    elif current is not None and not overwrite:
                        status = (400, "bad_request", EXISTS)
                    else:
                        status = None
                        blob = StoredBlob(
                            body,
                            fake._new_etag(body),
                            time.time(),
                            headers.get("x-content-type") or "application/octet-stream",
                            previous=(current.body, current.etag) if current else None,
                        )
                        fake.blobs[pathname] = blob
                if status is not None:
                    self._error(*status)
                    return
                meta = self._meta(pathname, blob)
                self._json(
                    200,
                    {
                        k: meta[k]
                        for k in (
                            "url",
                            "downloadUrl",
                            "pathname",
                            "contentType",
                            "contentDisposition",
                            "etag",
                        )
                    },
                )

            def _pathname_of(self, url_or_pathname: str) -> str:
                if url_or_pathname.startswith(("http://", "https://")):
                    return unquote(urlsplit(url_or_pathname).path[1:])
                return url_or_pathname

            def _head(self, url: str) -> None:
                pathname = self._pathname_of(url)
                with fake._lock:
                    blob = fake.blobs.get(pathname)
                if blob is None:
                    self._error(404, "not_found", "The requested blob does not exist")
                    return
                self._json(200, self._meta(pathname, blob))

            def _delete(self, body: bytes, headers: dict[str, str]) -> None:
                try:
                    urls = json.loads(body).get("urls", [])
                except (ValueError, AttributeError):
                    self._error(400, "bad_request", "invalid body")
                    return
                if_match = headers.get("x-if-match")
                with fake._lock:
                    for url in urls:
                        pathname = self._pathname_of(str(url))
                        blob = fake.blobs.get(pathname)
                        if if_match is not None and (blob is None or blob.etag != if_match):
                            self._error(412, "precondition_failed")
                            return
                        fake.blobs.pop(pathname, None)
                self._json(200, None)

            def _content(self, pathname: str, origin: bool) -> None:
                if fake._faulted("read", pathname) is not None:
                    self._answer(503, b"service unavailable", {"content-type": "text/plain"})
                    return
                with fake._lock:
                    blob = fake.blobs.get(pathname)
                if blob is None:
                    self._answer(404, b"not found", {"content-type": "text/plain"})
                    return
                body, etag = blob.body, blob.etag
                if fake.stale_reads and not origin and blob.previous is not None:
                    body, etag = blob.previous  # the CDN's copy from before the overwrite
                etag = ("W/" + etag) if fake.weak_etags else etag
                self._answer(
                    200,
                    body,
                    {
                        "content-type": blob.content_type,
                        "etag": etag,
                        "last-modified": formatdate(blob.uploaded_at, usegmt=True),
                        "cache-control": "private, no-cache" if origin else "private, max-age=60",
                    },
                )

        return Handler
