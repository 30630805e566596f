"""Seeded fuzz of the relay-watcher's HTTP API: no answer may be a 5xx, no body may carry a
traceback, and the server must log no unhandled exception.

    .venv/bin/python scripts/fuzz_watcher.py --calls 2500 --seed 1

A real watcher (default, safe URL policy) is served by uvicorn on 127.0.0.1 in this process,
relays and deliveries idle (`concurrency=0`: an accepted registration's wake-up is queued but
never sent, so the fuzz contacts nothing beyond loopback). Each call is one of:

- a correctly signed registration whose fields are mutated before signing (so the mutation
  reaches the checks behind the signature): odd types, digit-like Unicode, lone surrogates,
  URLs on private/loopback/metadata addresses, userinfo, other schemes, unresolvable names,
  service-key lists with bad or missing proofs, unknown actions;
- a signed registration tampered with after signing (body bytes, headers);
- deeply nested JSON (arrays, objects, mixed; depth up to 200,000), bare or signed;
- digit-like or malformed timestamp and signature headers;
- random bytes (invalid UTF-8, empty, larger than the 256 KiB limit);
- random methods and paths (unknown, traversal, encoded, very long, query strings);
- raw HTTP over a socket (malformed request lines and headers, `Content-Length: ²`, bad chunks).

The same seed gives the same calls (timestamps aside). Exit status 1 on any finding.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from relay_watcher import registration  # noqa: E402
from relay_watcher.api import create_app  # noqa: E402
from relay_watcher.delivery import DeliveryConfig  # noqa: E402
from relay_watcher.service import Watcher, WatcherConfig  # noqa: E402
from signer_core.crypto.secp import schnorr_sign, xonly_pubkey  # noqa: E402

DIGITISH = ["²", "¹²³", "１２３", "٣", "۳", "߃", "𝟙", "1_000", " 1", "1 ", "+1", "-1", "0x10",
            "1e3", "1.0", "", "0" * 13, "9" * 100, "\u0000", "NaN", "∞", "1\n2"]  # fmt: skip
URLS = [
    "https://1.1.1.1/fn", "http://8.8.8.8:8080/x", "https://[2606:4700:4700::1111]/",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://10.0.0.1/",
    "http://192.168.0.1/", "http://172.31.255.255/", "http://100.64.0.1/", "http://127.0.0.1:1/",
    "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0/", "http://0.0.0.0/",
    "http://[::1]/", "http://[::]/", "http://[fe80::1%25eth0]/", "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/", "http://localhost/", "http://LocalHost./", "http://x.invalid/",
    "https://u:p@1.1.1.1/", "https://1.1.1.1@127.0.0.1/", "ftp://1.1.1.1/", "file:///etc/passwd",
    "gopher://1.1.1.1:70/", "javascript:alert(1)", "http:///x", "http://", "https://[::1",
    "http://1.1.1.1:99999/", "http://1.1.1.1:-1/", "http://%31.1.1.1/", "https://1.1.1.1/²",
    "https://bücher.invalid/", "https://1.1.1.1/\ud800", "https://1.1.1.1/" + "a" * 3000,
    " https://1.1.1.1/", "https://1.1.1.1/\r\nX: y", "HTTPS://1.1.1.1/", "http://[1.1.1.1]/",
]  # fmt: skip
RELAYS = ["wss://relay.example", "ws://127.0.0.1:9", "wss://r\ud800", "wss://a b", "http://r",
          "wss://" + "r" * 600, "", "wss://²"]  # fmt: skip
PATHS = ["/v1/wallets", "/v1/wallets/unregister", "/v1/watcher", "/health", "/metrics",
         "/openapi.json", "/docs", "/redoc", "/", "/v1/wallets/", "/v1//wallets", "/v1/wallets/x",
         "/v1/wallets/../health", "/%2e%2e/%2e%2e/etc/passwd", "/v1/wallets?x=²", "/²",
         "/" + "a" * 5000, "/v1/wallets%00", "/health?" + "a=1&" * 500, "/docs/oauth2-redirect",
         "/v1/watcher/\u202e", "/metrics/x"]  # fmt: skip
METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get"]
RAW_REQUESTS = [
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nContent-Length: \xb2\r\n\r\n{}",
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nContent-Length: 1\xb2\r\n\r\n{}",
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nX-Nwc-Timestamp: \xb9\xb2\xb3\r\n"
    b"X-Nwc-Signature: " + b"ab" * 64 + b"\r\nContent-Length: 2\r\n\r\n{}",
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"\xb2\r\nxx\r\n0\r\n\r\n",
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
    b"GET /health HTTP/1.1\r\nHost: w\r\nBad Header\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: w\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET /health HTTP/9.9\r\nHost: w\r\n\r\n",
    b"GET /health\r\n\r\n",
    b"\x00\x01\x02\xff\r\n\r\n",
    b"GET /\xb2\xff HTTP/1.1\r\nHost: w\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: w\r\nX-\xb2: 1\r\n\r\n",
    b"POST /v1/wallets/unregister HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"PUT /v1/wallets HTTP/1.1\r\nHost: w\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
]  # fmt: skip


@dataclass
class Report:
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    logged_exceptions: list[str] = field(default_factory=list)
    no_answer: int = 0
    not_sent: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.tracebacks or self.logged_exceptions)

    def summary(self) -> str:
        top = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{self.calls} calls in {self.seconds:.1f} s; answers by status {{{top}}}; "
            f"closed without an answer (raw HTTP the server refused): {self.no_answer}; "
            f"not sendable by httpx: {self.not_sent}; "
            f"5xx: {len(self.server_errors)}; tracebacks in bodies: {len(self.tracebacks)}; "
            f"unhandled exceptions logged: {len(self.logged_exceptions)}"
        )


class _Exceptions(logging.Handler):
    """Collects every log record that carries an exception or is an error."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.found.append(f"{record.name}: {record.getMessage()[:200]}")


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A watcher on a free loopback port (safe URL policy, deliveries idle); its base URL."""
    config = WatcherConfig(folder / "watcher.db", delivery=DeliveryConfig(concurrency=0))
    watcher = Watcher(config, os.urandom(32))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(watcher), log_level="warning",
                                           access_log=False, lifespan="on"))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("the watcher did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


# -- generators ---------------------------------------------------------------------------------


def _header_bytes(text: str) -> bytes:
    """Latin-1 where possible (so "²" arrives as "²", as a raw 0xB2 byte would), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _nested(rng: random.Random, depth: int) -> str:
    shape = rng.choice(["array", "object", "mixed"])
    if shape == "array":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a":' * depth + "1" + "}" * depth
    opens, closes = [], []
    for _ in range(depth):
        if rng.random() < 0.5:
            opens.append("[")
            closes.append("]")
        else:
            opens.append('{"k":')
            closes.append("}")
    return "".join(opens) + "0" + "".join(reversed(closes))


def _odd_value(rng: random.Random) -> Any:
    return rng.choice([None, True, False, 0, -1, 10**30, 1.5e308, "", "²", "\ud800", "\u0000",
                       "x" * 5000, [], {}, [None], {"a": 1}, rng.choice(DIGITISH),
                       float("nan"), rng.choice(URLS), ["ws://x"] * 25])  # fmt: skip


def _service_keys(rng: random.Random, wallet: str) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return _odd_value(rng)
    if roll < 0.12:
        return [{"pubkey": "ab" * 32, "proof": "cd" * 64}] * 1001
    keys: list[Any] = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        secret = os.urandom(32)
        item: Any = {"pubkey": xonly_pubkey(secret).hex(),
                     "proof": registration.service_key_proof(secret, wallet)}  # fmt: skip
        mutation = rng.random()
        if mutation < 0.1:
            item["proof"] = "00" * 64
        elif mutation < 0.15:
            item["pubkey"] = item["pubkey"].upper()
        elif mutation < 0.2:
            del item["proof"]
        elif mutation < 0.25:
            item = _odd_value(rng)
        elif mutation < 0.3:
            item["pubkey"] = rng.choice(DIGITISH)
        keys.append(item)
    return keys


def _document(rng: random.Random, wallet: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "action": rng.choice(["register"] * 8 + ["unregister", "", "²", "REGISTER"]),
        "wallet_pubkey": wallet,
        "function_url": rng.choice(URLS),
        "relays": [rng.choice(RELAYS) for _ in range(rng.choice([1, 1, 2, 0, 21]))],
        "service_keys": _service_keys(rng, wallet),
    }
    for _ in range(rng.choice([0, 0, 1, 2])):
        key = rng.choice(list(doc) + ["extra", "²"])
        doc[key] = _odd_value(rng)
    return doc


def _encode(rng: random.Random, doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")


def _signed(rng: random.Random, body_of: Callable[[str], bytes]) -> tuple[dict[str, bytes], bytes]:
    reg = os.urandom(32)
    wallet = xonly_pubkey(reg).hex()
    if rng.random() < 0.05:
        wallet = rng.choice(["", "ab" * 31, "AB" * 32, "²" * 64])
    body = body_of(wallet)
    ts = str(int(time.time()) + rng.choice([0, 0, 0, 0, -1000, 1000]))
    sig = schnorr_sign(registration._digest(ts, body), reg).hex()
    return {"x-nwc-timestamp": ts.encode(), "x-nwc-signature": sig.encode(),
            "content-type": b"application/json"}, body  # fmt: skip


@dataclass
class Call:
    kind: str
    method: str = "PUT"
    path: str = "/v1/wallets"
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None  # sent over a plain socket instead

    def describe(self) -> str:
        if self.raw is not None:
            return f"{self.kind}: raw {self.raw[:80]!r}"
        return f"{self.kind}: {self.method} {self.path[:80]} body {self.body[:80]!r}"


def make_call(rng: random.Random) -> Call:
    roll = rng.random()
    path = rng.choice(["/v1/wallets", "/v1/wallets", "/v1/wallets/unregister"])
    method = "PUT" if path == "/v1/wallets" else "POST"
    if roll < 0.35:
        headers, body = _signed(rng, lambda w: _encode(rng, _document(rng, w)))
        return Call("signed", method, path, headers, body)
    if roll < 0.45:
        headers, body = _signed(rng, lambda w: _encode(rng, _document(rng, w)))
        if body and rng.random() < 0.6:
            pos = rng.randrange(len(body))
            body = body[:pos] + bytes([rng.randrange(256)]) + body[pos + 1 :]
        else:
            name = rng.choice(["x-nwc-timestamp", "x-nwc-signature"])
            headers[name] = _header_bytes(rng.choice(DIGITISH))
        return Call("tampered", method, path, headers, body)
    if roll < 0.55:
        depth = rng.choice([10, 33, 100, 1000, 5000, 50_000, 200_000])
        nested = _nested(rng, depth)
        if rng.random() < 0.5:
            headers = {"x-nwc-timestamp": str(int(time.time())).encode(),
                       "x-nwc-signature": b"ab" * 64}  # fmt: skip
            return Call("nested", method, path, headers, nested.encode())
        headers, body = _signed(
            rng, lambda w: _encode(rng, _document(rng, w))[:-1] + b',"n":' + nested.encode() + b"}"
        )
        return Call("nested-signed", method, path, headers, body)
    if roll < 0.7:
        stamp = rng.choice([*DIGITISH, str(int(time.time()))])
        sig = rng.choice(["ab" * 64, "²" * 128, "AB" * 64, "", "g" * 128, "ab" * 65])
        headers = {"x-nwc-timestamp": _header_bytes(stamp), "x-nwc-signature": _header_bytes(sig)}
        if rng.random() < 0.3:
            headers[rng.choice(["content-type", "x-nwc-timestamp", "x-odd"])] = _header_bytes(
                rng.choice(DIGITISH + ["application/json; charset=²", "text/plain"])
            )
        body = _encode(rng, _document(rng, "ab" * 32))
        return Call("headers", method, path, headers, body)
    if roll < 0.8:
        size = rng.choice([0, 1, 7, 100, 4096, 300 * 1024])
        body = bytes(rng.randrange(256) for _ in range(min(size, 4096)))
        body = body * (size // max(len(body), 1)) if size > 4096 else body
        headers = {"x-nwc-timestamp": str(int(time.time())).encode(),
                   "x-nwc-signature": b"ab" * 64}  # fmt: skip
        return Call("bytes", method, path, headers, body)
    if roll < 0.95:
        body = _encode(rng, _odd_value(rng)) if rng.random() < 0.5 else b""
        return Call("route", rng.choice(METHODS), rng.choice(PATHS), {}, body)
    return Call("raw", raw=rng.choice(RAW_REQUESTS))


# -- running ------------------------------------------------------------------------------------


def _raw_status(base_url: str, data: bytes) -> tuple[int | None, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        with contextlib.suppress(OSError):
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    answer = b"".join(chunks)
    if not answer.startswith(b"HTTP/"):
        return None, answer
    return int(answer.split(b" ", 2)[1]), answer


def run(calls: int, seed: int) -> Report:
    rng = random.Random(seed)
    report = Report()
    catcher = _Exceptions()
    # uvicorn's loggers do not propagate to the root: listen on them directly
    loggers = [
        logging.getLogger(),
        logging.getLogger("uvicorn.error"),
        logging.getLogger("uvicorn"),
    ]
    for logger in loggers:
        logger.addHandler(catcher)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp)) as base_url:
            # a new connection per call: hostile clients rarely keep one alive, and uvicorn's
            # keep-alive answers stall ~40 ms each on loopback (Nagle + delayed ACK)
            limits = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=base_url, timeout=30, limits=limits) as client:
                for _ in range(calls):
                    call = make_call(rng)
                    report.calls += 1
                    report.kinds[call.kind] += 1
                    if call.raw is not None:
                        status, text = _raw_status(base_url, call.raw)
                    else:
                        try:
                            headers = {k.encode(): v for k, v in call.headers.items()}
                            res = client.request(call.method, call.path, content=call.body,
                                                 headers=headers)  # fmt: skip
                        except httpx.LocalProtocolError:  # httpx will not send it (b"1\n2")
                            report.not_sent += 1
                            continue
                        status, text = res.status_code, res.content
                    if status is None:
                        report.no_answer += 1
                        continue
                    report.statuses[status] += 1
                    if status >= 500:
                        report.server_errors.append(f"{status} {call.describe()}")
                    if b"Traceback" in text or b'File "' in text:
                        report.tracebacks.append(call.describe())
    finally:
        for logger in loggers:
            logger.removeHandler(catcher)
    report.logged_exceptions = catcher.found
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    report = run(args.calls, args.seed)
    print(f"fuzz_watcher --calls {args.calls} --seed {args.seed}: {report.summary()}")
    print("calls by kind: " + ", ".join(f"{k}: {n}" for k, n in sorted(report.kinds.items())))
    for label, items in (("5xx", report.server_errors), ("traceback", report.tracebacks),
                         ("logged", report.logged_exceptions)):  # fmt: skip
        for item in items[:20]:
            print(f"  {label}: {item}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
