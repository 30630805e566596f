"""The HTTP/1.1 client that POSTs deliveries to functions: keep-alive, no per-request pool scan.

Why not httpx here: under the throughput benchmark httpx was about half of a replica's
event-loop time, most of it httpcore's pool bookkeeping (every request and every response
walks every pooled connection and asks the kernel whether each idle one is readable:
`getpeername` + `poll` per connection, twice a delivery). This client does one thing, a POST
of a small signed body with the answer read into memory, over asyncio streams:

- connections kept per origin (scheme, host, port), newest first, closed after
  KEEPALIVE_S idle (under the 5 s of uvicorn, Node and many proxies) or when the peer has
  closed them (seen by the loop, no system call per request);
- every new connection resolves the host and connects only to addresses urls.py allows
  (AddressRefused, the job is dead-lettered), unless private addresses are allowed;
  TLS verifies the certificate against the URL's host (certifi's CAs, as httpx);
- bounded: the answer's head (64 KiB), its body (`max_response_bytes`: a larger one is not
  read, the connection is dropped, the caller gets `too_large`), connect and total timeouts;
- a kept connection the peer closed before answering a byte is retried once on a new
  connection (the keep-alive race); any other failure is an HttpError, and the delivery is
  retried by the queue as before (at least once: a function may see a delivery twice).

Error class names match httpx's (ConnectError, ConnectTimeout, ReadTimeout, WriteError,
RemoteProtocolError, ReadError) so dead letters and logs read as before.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from relay_watcher import urls
from signer_core.protocol.text import parse_uint

KEEPALIVE_S = 4.0
HEAD_LIMIT = 64 * 1024
MAX_INTERIM = 8  # 1xx answers skipped before the real one
MAX_TRAILERS = 64
USER_AGENT = b"nwc-relay-watcher"
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdefABCDEF")

Origin = tuple[str, str, int]


class HttpError(Exception):
    """The function could not be asked or did not answer properly (retried later)."""


class ConnectError(HttpError):
    pass


class ConnectTimeout(HttpError):
    pass


class ReadTimeout(HttpError):
    pass


class ReadError(HttpError):
    pass


class WriteError(HttpError):
    pass


class RemoteProtocolError(HttpError):
    pass


class _Stale(Exception):
    """A kept connection was closed by the peer before any byte of an answer."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    too_large: bool = False  # the body was over the limit and not read


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        """Reusable: not idle too long, not closed by either side, nothing unasked waiting."""
        return (
            now - self.idle_since < KEEPALIVE_S
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and not getattr(self.reader, "_buffer", b"")  # bytes nobody asked for: drop it
        )

    def abort(self) -> None:
        self.writer.transport.abort()


class WebhookClient:
    """POSTs to function URLs; one per dispatcher (its connections are its own)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        max_response_bytes: int,
        allow_private: bool,
        max_idle: int = 64,
        ssl_context: ssl.SSLContext | None = None,  # default: certifi's CAs, as httpx
    ) -> None:
        self.connect_timeout_s, self.timeout_s = connect_timeout_s, timeout_s
        self.max_response_bytes, self.allow_private = max_response_bytes, allow_private
        self.max_idle = max_idle
        self._idle: dict[Origin, list[_Conn]] = {}
        self._idle_count = 0
        self._swept = time.monotonic()
        self._ssl = ssl_context
        self.opened = 0  # connections opened (tests and /health-style counters)

    async def post(self, url: httpx.URL, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url` (already checked by urls.parse) and read the answer."""
        host, port = urls.host_and_port(url)
        origin: Origin = (url.scheme, host, port)
        head = _request_head(url, len(body), headers)
        try:
            async with asyncio.timeout(self.timeout_s):
                conn = self._take(origin)
                if conn is not None:
                    try:
                        return await self._exchange(conn, origin, head + body, reused=True)
                    except _Stale:
                        pass  # the peer closed it meanwhile: ask again on a new connection
                conn = await self._connect(origin)
                return await self._exchange(conn, origin, head + body, reused=False)
        except TimeoutError:
            raise ReadTimeout(f"no answer within {self.timeout_s:g} s") from None

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.abort()
        self._idle.clear()
        self._idle_count = 0

    # -- connections ------------------------------------------------------------------------

    def _take(self, origin: Origin) -> _Conn | None:
        conns = self._idle.get(origin)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            self._idle_count -= 1
            if conn.usable(now):
                return conn
            conn.abort()
        return None

    def _give_back(self, origin: Origin, conn: _Conn) -> None:
        now = time.monotonic()
        if now - self._swept > KEEPALIVE_S:
            self._sweep(now)
        if self._idle_count >= self.max_idle:
            conn.abort()
            return
        conn.idle_since = now
        self._idle.setdefault(origin, []).append(conn)
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close connections idle too long or closed by their peer (once per KEEPALIVE_S)."""
        self._swept = now
        for origin in list(self._idle):
            keep = []
            for conn in self._idle[origin]:
                if conn.usable(now):
                    keep.append(conn)
                else:
                    conn.abort()
            self._idle_count -= len(self._idle[origin]) - len(keep)
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    async def _connect(self, origin: Origin) -> _Conn:
        scheme, host, port = origin
        tls = self._context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                try:
                    addresses = await urls.resolve(host, port)
                except OSError as exc:
                    raise ConnectError(str(exc)) from None
                if not self.allow_private:
                    urls.check_addresses(host, addresses)  # AddressRefused: never contacted
                last: OSError | None = None
                for address in addresses:
                    try:
                        reader, writer = await asyncio.open_connection(
                            str(address), port, ssl=tls, server_hostname=host if tls else None,
                            limit=HEAD_LIMIT,
                        )  # fmt: skip
                    except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError)
                        last = exc
                        continue
                    self.opened += 1
                    return _Conn(reader, writer)
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self.connect_timeout_s:g} s") from None
        raise ConnectError(str(last) or type(last).__name__ if last else f"{host}: no address")

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(trust_env=False)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    # -- one exchange ---------------------------------------------------------------------

    async def _exchange(
        self, conn: _Conn, origin: Origin, request: bytes, *, reused: bool
    ) -> Answer:
        try:
            try:
                conn.writer.write(request)
                await conn.writer.drain()
            except OSError as exc:  # reset or closed under us
                if reused:
                    raise _Stale from None
                raise WriteError(str(exc) or type(exc).__name__) from None
            answer, keep = await self._read(conn.reader, reused)
        except BaseException:  # errors, timeouts, cancellation: the connection is spent
            conn.abort()
            raise
        if keep:
            self._give_back(origin, conn)
        else:
            conn.abort()
        return answer

    async def _read(self, reader: asyncio.StreamReader, reused: bool) -> tuple[Answer, bool]:
        """The answer, and whether the connection may carry another request."""
        for _ in range(MAX_INTERIM + 1):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if reused and not exc.partial:
                    raise _Stale from None
                raise RemoteProtocolError("the function closed the connection without an "
                                          "answer") from None  # fmt: skip
            except (ConnectionResetError, BrokenPipeError) as exc:
                if reused:
                    raise _Stale from None
                raise ReadError(str(exc)) from None
            except asyncio.LimitOverrunError:
                raise RemoteProtocolError("answer head over 64 KiB") from None
            except OSError as exc:
                raise ReadError(str(exc)) from None
            reused = False  # bytes came: from here on, a failure is not the keep-alive race
            status, headers, persistent = _parse_head(head)
            if not 100 <= status < 200:
                break
            if status == 101:
                raise RemoteProtocolError("the function switched protocols")
        else:
            raise RemoteProtocolError("too many interim (1xx) answers")
        try:
            body, framed = await self._body(reader, status, headers)
        except asyncio.IncompleteReadError:
            raise RemoteProtocolError("the function closed the connection mid-answer") from None
        except asyncio.LimitOverrunError:
            raise RemoteProtocolError("chunk header over 64 KiB") from None
        except OSError as exc:
            raise ReadError(str(exc)) from None
        keep = persistent and framed
        coding = headers.get("content-encoding", "identity").strip().lower()
        if body is not None and coding != "identity":
            body = _decoded(coding, body, self.max_response_bytes)
        if body is None:
            return Answer(status, headers, b"", too_large=True), False
        return Answer(status, headers, body), keep

    async def _body(
        self, reader: asyncio.StreamReader, status: int, headers: dict[str, str]
    ) -> tuple[bytes | None, bool]:
        """(body or None if over the limit, whether its end was framed, not the connection's)."""
        limit = self.max_response_bytes
        if status in (204, 304):
            return b"", True
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
                return await _until_close(reader, limit), False
            return await _chunked(reader, limit), "content-length" not in headers
        length_text = headers.get("content-length")
        if length_text is None:
            return await _until_close(reader, limit), False
        length = parse_uint(length_text.strip(), max_digits=18)
        if length is None:
            raise RemoteProtocolError(f"invalid Content-Length {length_text[:40]!r}")
        if length > limit:
            return None, False
        return await reader.readexactly(length), True


def _decoded(coding: str, body: bytes, limit: int) -> bytes | None:
    """A gzip or deflate body decoded, at most `limit` bytes (None if larger). We ask for
    none (no Accept-Encoding), but a function behind a proxy may compress anyway."""
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise RemoteProtocolError(f"unsupported Content-Encoding {coding[:40]!r}")
    inflater = zlib.decompressobj(wbits=47 if coding != "deflate" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise RemoteProtocolError(f"invalid {coding} body") from None
    return None if len(out) > limit else out


def _request_head(url: httpx.URL, length: int, headers: Mapping[str, str]) -> bytes:
    target = url.raw_path or b"/"
    lines = [b"POST " + target + b" HTTP/1.1", b"Host: " + url.netloc,
             b"User-Agent: " + USER_AGENT, b"Content-Length: " + str(length).encode()]  # fmt: skip
    for name, value in headers.items():
        raw_name, raw_value = name.encode("ascii"), value.encode("latin-1")
        if not raw_name or not set(raw_name) <= _TOKEN or any(c in raw_value for c in b"\r\n\0"):
            raise ValueError(f"header {name!r} cannot be sent")
        lines.append(raw_name + b": " + raw_value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """(status, headers with lower-case names, whether the peer keeps the connection)."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    version = parts[0]
    status = parse_uint(parts[1].decode("latin-1"), max_digits=3) if len(parts) > 1 else None
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or status is None or status < 100:
        raise RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or not set(name) <= _TOKEN:  # also obsolete line folding
            raise RemoteProtocolError(f"malformed header line {line[:60]!r}")
        key, text = name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")
        if key in headers:
            if key == "content-length" and headers[key] != text:
                raise RemoteProtocolError("conflicting Content-Length headers")
            if key != "content-length":
                headers[key] = headers[key] + ", " + text
        else:
            headers[key] = text
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    persistent = "close" not in tokens and (version == b"HTTP/1.1" or "keep-alive" in tokens)
    return status, headers, persistent


async def _until_close(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    body = await reader.read(limit + 1)
    data = bytearray(body)
    while body and len(data) <= limit:
        body = await reader.read(limit + 1 - len(data))
        data += body
    return None if len(data) > limit else bytes(data)


async def _chunked(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    data = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
        if not size_text or len(size_text) > 16 or not set(size_text) <= _HEX:
            raise RemoteProtocolError(f"invalid chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        if len(data) + size > limit:
            return None
        data += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise RemoteProtocolError("chunk not followed by CRLF")
    for _ in range(MAX_TRAILERS):
        if await reader.readuntil(b"\r\n") == b"\r\n":
            return bytes(data)
    raise RemoteProtocolError("too many trailer lines")
