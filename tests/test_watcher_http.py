"""The watcher's delivery HTTP client (relay_watcher/webhook_http.py) against real sockets.

Each stand-in function is a TCP server on loopback that writes exact bytes (keep-alive,
chunked, read-to-close, oversized, broken answers), so the framing rules are what is under
test, not a library's. The last tests run the dispatcher: a function that drops the
connection leaves the job queued for a retry (at least once), never finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from relay_watcher import urls
from relay_watcher.service import Watcher, WatcherConfig
from relay_watcher.webhook_http import (
    Answer,
    ConnectError,
    ReadTimeout,
    RemoteProtocolError,
    WebhookClient,
    WriteError,
)

OK = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"events": []}'
)
Handler = Callable[[int, int, bytes, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """Counts connections and requests; `handler(conn_no, req_no_on_conn, request, writer)`
    answers one request and says whether to keep reading the connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.connections = handler, 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fn/1?x=y"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn, n = self.connections, 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                n += 1
                if not await self.handler(conn, n, request, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def client(**kw: object) -> WebhookClient:
    args: dict[str, object] = {"connect_timeout_s": 5.0, "timeout_s": 10.0,
                               "max_response_bytes": 1000, "allow_private": True}  # fmt: skip
    args.update(kw)
    return WebhookClient(**args)  # type: ignore[arg-type]


def answer_with(data: bytes, keep: bool = True) -> Handler:
    async def handler(conn: int, n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        return keep

    return handler


def post(
    c: WebhookClient, url: str, body: bytes = b'{"type":"wake"}'
) -> Coroutine[Any, Any, Answer]:
    return c.post(urls.parse(url), body, {"X-Nwc-Signature": "ab" * 64,
                                          "Content-Type": "application/json"})  # fmt: skip


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given() -> None:
    async def go() -> None:
        async with Server(answer_with(OK)) as srv:
            c = client()
            for _ in range(3):
                res = await c.post(urls.parse(srv.url), b'{"a":1}', {"X-Nwc-Signature": "ab"})
                assert (res.status, res.body, res.too_large) == (200, b'{"events": []}', False)
            assert srv.connections == 1 and c.opened == 1
            head, _, body = srv.requests[0].partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /fn/1?x=y HTTP/1.1"
            assert f"Host: 127.0.0.1:{srv.port}".encode() in lines
            assert b"Content-Length: 7" in lines and b"X-Nwc-Signature: ab" in lines
            assert body == b'{"a":1}'
            await c.aclose()

    run(go())


def test_chunked_answer_is_decoded_and_the_connection_kept() -> None:
    chunked = (b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
               b'5;ext=1\r\n{"mes\r\n8\r\nsage":"x\r\n2\r\n"}\r\n'
               b"0\r\nX-Trailer: t\r\n\r\n")  # fmt: skip

    async def go() -> None:
        async with Server(answer_with(chunked)) as srv:
            c = client()
            for _ in range(2):
                res = await post(c, srv.url)
                assert res.status == 409
                assert res.body == b'{"message":"x"}'
                assert res.headers["retry-after"] == "7"
            assert c.opened == 1
            await c.aclose()

    run(go())


def test_answer_read_to_close_and_connection_close_are_not_reused() -> None:
    to_close = b"HTTP/1.1 200 OK\r\n\r\n" + b'{"events": []}'
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    for data, body in ((to_close, b'{"events": []}'), (closing, b"{}"), (http10, b"{}")):

        async def go(data: bytes = data, body: bytes = body) -> None:
            async with Server(answer_with(data, keep=False)) as srv:
                c = client()
                for _ in range(2):
                    res = await post(c, srv.url)
                    assert res.body == body
                assert c.opened == 2 and srv.connections == 2
                await c.aclose()

        run(go())


@pytest.mark.parametrize("kind", ["content-length", "chunked", "to-close"])
def test_an_oversized_answer_is_not_read(kind: str) -> None:
    big = b"x" * 5000
    data = {
        "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + big,
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"1f4\r\n" + b"x" * 500 + b"\r\n" for _ in range(10))
        + b"0\r\n\r\n",
        "to-close": b"HTTP/1.1 200 OK\r\n\r\n" + big,
    }[kind]

    async def go() -> None:
        async with Server(answer_with(data, keep=kind != "to-close")) as srv:
            c = client(max_response_bytes=1000)
            res = await post(c, srv.url)
            assert (res.status, res.body, res.too_large) == (200, b"", True)
            assert c._idle_count == 0  # the rest of it is never read: the connection is dropped
            await c.aclose()

    run(go())


def test_a_kept_connection_the_function_closed_is_retried_once_on_a_new_one() -> None:
    """The keep-alive race: the function drops an idle connection as the next request
    goes out on it. The request is sent again on a fresh connection (at least once)."""

    async def handler(conn: int, n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        if conn == 1 and n == 2:
            return False  # closes without a byte of an answer
        writer.write(OK)
        return True

    async def go() -> None:
        async with Server(handler) as srv:
            c = client()
            assert (await post(c, srv.url)).status == 200
            assert (await post(c, srv.url)).status == 200
            assert srv.connections == 2 and len(srv.requests) == 3
            await c.aclose()

    run(go())


def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_retry() -> None:
    async def go() -> None:
        async with Server(answer_with(b"", keep=False)) as srv:
            c = client()
            with pytest.raises(RemoteProtocolError):
                await post(c, srv.url)
            assert len(srv.requests) == 1
            await c.aclose()

    run(go())


def test_a_function_that_never_answers_times_out() -> None:
    async def hang(conn: int, n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(3600)
        return False

    async def go() -> None:
        async with Server(hang) as srv:
            c = client(timeout_s=0.3)
            with pytest.raises(ReadTimeout):
                await post(c, srv.url)
            assert c._idle_count == 0
            await c.aclose()

    run(go())


def test_connection_refused_is_a_connect_error() -> None:
    async def go() -> None:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        with pytest.raises(ConnectError):
            await post(client(), f"http://127.0.0.1:{port}/")

    run(go())


def test_private_addresses_are_refused_before_connecting_unless_allowed() -> None:
    async def go() -> None:
        async with Server(answer_with(OK)) as srv:
            with pytest.raises(urls.AddressRefused):
                await post(client(allow_private=False), f"http://localhost:{srv.port}/")
            assert srv.connections == 0
            assert (await post(client(), f"http://localhost:{srv.port}/")).status == 200

    run(go())


def test_interim_answers_are_skipped() -> None:
    async def go() -> None:
        async with Server(answer_with(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as srv:
            assert (await post(client(), srv.url)).status == 200

    run(go())


@pytest.mark.parametrize("data", [
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
])  # fmt: skip
def test_malformed_answers_are_protocol_errors(data: bytes) -> None:
    async def go() -> None:
        async with Server(answer_with(data, keep=False)) as srv:
            with pytest.raises(RemoteProtocolError):
                await post(client(), srv.url)

    run(go())


def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    async def go() -> None:
        async with Server(answer_with(OK)) as srv:
            with pytest.raises(ValueError):
                await client().post(urls.parse(srv.url), b"", {"X-A": "1\r\nX-B: 2"})
            assert srv.connections == 0

    run(go())


def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool() -> None:
    async def go() -> None:
        got = asyncio.Event()

        async def slow(conn: int, n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
            got.set()
            await asyncio.sleep(3600)
            return False

        async with Server(slow) as srv:
            c = client()
            task = asyncio.create_task(post(c, srv.url))
            await got.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert c._idle_count == 0

    run(go())


# -- through the dispatcher ------------------------------------------------------------------


def _deliver_until(w: Watcher, url: str, done: Callable[[], bool]) -> None:
    wallet = "ab" * 32
    w.db.registry.register(wallet, url, ["ws://127.0.0.1:9"], [], int(time.time()), "s", 0)
    w.db.wakes.wake_now(wallet, int(time.time()))

    async def go() -> None:
        task = asyncio.create_task(w.dispatcher.run())
        try:
            for _ in range(600):  # bounded: at most a minute
                if done():
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the delivery did not end as expected")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await w.dispatcher.close()

    asyncio.run(go())


def _watcher(tmp_path: Path) -> Watcher:
    cfg = WatcherConfig(tmp_path / "w.db", allow_private_function_urls=True,
                        challenge_function_urls=False)  # fmt: skip
    return Watcher(cfg, os.urandom(32))


def _job(w: Watcher) -> tuple[int, str] | None:
    row = w.db.queue.db.one("SELECT attempts, last_error FROM jobs")
    return None if row is None else (int(row[0]), str(row[1] or ""))


@pytest.mark.parametrize("data", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}"])
def test_a_lost_connection_requeues_the_delivery(tmp_path: Path, data: bytes) -> None:
    """No answer, or half of one: the job stays queued with the error, for a retry."""
    import threading

    hits: list[int] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def start() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                await reader.readuntil(b"\r\n\r\n")
            hits.append(1)
            writer.write(data)
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(srv.sockets[0].getsockname()[1])
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()),
                                              loop.run_forever()), daemon=True)  # fmt: skip
    thread.start()
    ready.wait(10)
    w = _watcher(tmp_path)
    try:
        _deliver_until(w, f"http://127.0.0.1:{port[0]}/", lambda: (_job(w) or (0, ""))[0] == 1)
        job = _job(w)
        assert job is not None and job[0] == 1 and "RemoteProtocolError" in job[1]
        assert w.db.queue.dead_letters() == []
    finally:
        loop.call_soon_threadsafe(loop.stop)
        w.db.close()


def test_an_oversized_answer_finishes_the_delivery_with_nothing_published(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Big(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = b'{"events": [' + b" " * (2 * 1024 * 1024) + b"]}"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = _watcher(tmp_path)
    try:
        _deliver_until(w, f"http://127.0.0.1:{server.server_address[1]}/",
                       lambda: w.db.queue.job_count() == 0)  # fmt: skip
        assert w.db.queue.dead_letters() == []
    finally:
        server.shutdown()
        server.server_close()
        w.db.close()


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (openssl, as an operator would make one)."""
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",  # noqa: S607
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)  # fmt: skip
    return key, crt


async def _tls_server(cert: tuple[Path, Path], hits: list[bytes]) -> asyncio.Server:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[1]), str(cert[0]))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                hits.append(await reader.readuntil(b"\r\n\r\n"))
                await reader.readexactly(2)
                writer.write(OK)
                await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)


def test_tls_verifies_the_certificate_and_the_host_name(cert: tuple[Path, Path]) -> None:
    async def go() -> None:
        hits: list[bytes] = []
        srv = await _tls_server(cert, hits)
        port = srv.sockets[0].getsockname()[1]
        trusting = ssl.create_default_context(cafile=str(cert[1]))
        # not trusted by the default CAs: refused before any request is sent
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await post(client(), f"https://localhost:{port}/")
        # trusted, but the URL names another host than the certificate
        with pytest.raises(ConnectError):
            await post(client(ssl_context=trusting), f"https://127.0.0.1:{port}/")
        assert hits == []
        c = client(ssl_context=trusting)
        for _ in range(2):
            assert (await post(c, f"https://localhost:{port}/x", b"{}")).status == 200
        assert c.opened == 1 and len(hits) == 2
        assert b"Host: localhost:" in hits[0]
        await c.aclose()
        srv.close()

    run(go())


def test_a_compressed_answer_is_decoded_within_the_limit() -> None:
    small = gzip.compress(b'{"events": []}')
    bomb = gzip.compress(b" " * 1_000_000)  # ~1 KB on the wire, 1 MB decoded

    def answer(body: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip

    async def go() -> None:
        async with Server(answer_with(answer(small))) as srv:
            res = await post(client(max_response_bytes=1000), srv.url)
            assert (res.body, res.too_large) == (b'{"events": []}', False)
        async with Server(answer_with(answer(bomb))) as srv:
            res = await post(client(max_response_bytes=1000), srv.url)
            assert (res.body, res.too_large) == (b"", True)
        async with Server(answer_with(answer(b"not gzip"), keep=False)) as srv:
            with pytest.raises(RemoteProtocolError):
                await post(client(), srv.url)

    run(go())


def test_a_connection_lost_under_a_write_is_an_http_error() -> None:
    """Not an OSError escaping the client (the dispatcher retries HttpErrors as transport
    failures; anything else would be logged as an internal error)."""

    async def go() -> None:
        async with Server(answer_with(OK)) as srv:
            c = client()
            origin = ("http", "127.0.0.1", srv.port)
            conn = await c._connect(origin)
            conn.writer.close()
            await conn.writer.wait_closed()
            with pytest.raises(WriteError):
                await c._exchange(conn, origin, b"POST / HTTP/1.1\r\n\r\n", reused=False)

    run(go())
