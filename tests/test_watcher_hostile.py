"""Hostile input to the watcher's HTTP API (issue #9, defect 1): digit-like Unicode in the
signed timestamp header and deeply nested JSON bodies get a 4xx with a JSON message, never a
500 and never a traceback. Through the real FastAPI app with httpx's ASGI transport, which
hands the header bytes to the app unchanged, as uvicorn does (Starlette's TestClient re-encodes
them as UTF-8, so a raw 0xB2 byte would never arrive as "²")."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relay_watcher import registration
from relay_watcher.api import create_app
from relay_watcher.service import Watcher, WatcherConfig
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The watcher's state on SQLite, then on PostgreSQL (tests/pg.py)."""
    return pg.target(request, tmp_path)


PATHS = [("PUT", "/v1/wallets"), ("POST", "/v1/wallets/unregister")]
GOOD_SIG = "ab" * 64


class Client:
    """Synchronous calls into the ASGI app (its lifespan, relays and dispatcher, is not run:
    registrations do not need it). An exception in the app comes back as a 500."""

    def __init__(self, watcher: Watcher) -> None:
        self.transport = httpx.ASGITransport(create_app(watcher), raise_app_exceptions=False)

    def request(
        self, method: str, path: str, content: bytes, headers: dict[str, bytes] | dict[str, str]
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://w") as c:
                return await c.request(method, path, content=content, headers=headers)

        return asyncio.run(go())

    def put(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.request("PUT", path, content, headers)


@pytest.fixture
def client(watcher_db: Path | str) -> Iterator[Client]:
    watcher = Watcher(WatcherConfig(watcher_db, challenge_function_urls=False), os.urandom(32))
    yield Client(watcher)
    watcher.db.close()


def assert_clear_4xx(res: httpx.Response) -> None:
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    body = res.json()
    assert isinstance(body.get("message"), str) and body["message"]
    assert "Traceback" not in res.text


# Starlette decodes header bytes as latin-1: 0xB2 is "²", 0xB9 "¹", 0xB3 "³"; all pass
# str.isdigit() and make int() raise.
@pytest.mark.parametrize("raw_ts", [b"\xb2", b"\xb9\xb2\xb3", b"1\xb2", "１２".encode(), b"-5",
                                    b" 12", b"", b"9" * 40])  # fmt: skip
@pytest.mark.parametrize(("method", "path"), PATHS)
def test_digit_like_timestamp_header_is_a_4xx(
    client: Client, method: str, path: str, raw_ts: bytes
) -> None:
    body = b'{"wallet_pubkey":"' + b"ab" * 32 + b'"}'
    headers = {"x-nwc-timestamp": raw_ts, "x-nwc-signature": GOOD_SIG.encode()}
    res = client.request(method, path, body, headers)
    assert_clear_4xx(res)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [1000, 5000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize(("method", "path"), PATHS)
def test_deeply_nested_body_is_a_4xx(
    client: Client, method: str, path: str, kind: str, depth: int
) -> None:
    headers = {"x-nwc-timestamp": str(int(time.time())), "x-nwc-signature": GOOD_SIG}
    res = client.request(method, path, _nested(depth, kind), headers)
    assert_clear_4xx(res)


def test_deep_nesting_inside_a_signed_registration_is_a_4xx(client: Client) -> None:
    """Signed correctly, but a field nests past the bound: refused, not parsed."""
    reg = os.urandom(32)
    headers, body = registration.build(reg, now=int(time.time()), function_url="https://1.1.1.1/",
                                       relays=["wss://relay.example"])  # fmt: skip
    deep = body[:-1] + b',"x":' + _nested(3000, "array") + b"}"
    sig = registration.schnorr_sign(registration._digest(headers["x-nwc-timestamp"], deep), reg)
    res = client.put("/v1/wallets", deep, {**headers, "x-nwc-signature": sig.hex()})
    assert_clear_4xx(res)


def test_a_good_registration_still_passes(client: Client) -> None:
    """The control: the same client accepts a well-formed, signed registration."""
    headers, body = registration.build(os.urandom(32), now=int(time.time()),
                                       function_url="https://1.1.1.1/fn",
                                       relays=["wss://relay.example"],
                                       service_secrets=[os.urandom(32)])  # fmt: skip
    res = client.put("/v1/wallets", body, headers)
    assert res.status_code == 200, res.text
    assert res.json()["service_keys"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("relays", ["ws://relay\ud800.example"]), ("relays", ["wss://a b"]),
     ("function_url", "https://1.1.1.1/\ud800"), ("function_url", "https://1.1.1.1/\u00b2"),
     ("function_url", "https://[::1"), ("function_url", "http://1.1.1.1:99999/"),
     ("function_url", ["https://1.1.1.1/"]), ("relays", [["ws://x"]])],
)  # fmt: skip
def test_signed_odd_strings_are_a_4xx(client: Client, field: str, value: object) -> None:
    """Correctly signed, but with lone surrogates, spaces, non-ASCII or broken URLs: a 400
    (a lone surrogate echoed back in the answer used to fail while encoding it: a 500)."""
    reg = os.urandom(32)
    ts = str(int(time.time()))
    doc = {"action": "register", "wallet_pubkey": registration.xonly_pubkey(reg).hex(),
           "function_url": "https://1.1.1.1/", "relays": ["wss://relay.example"],
           "service_keys": [], field: value}  # fmt: skip
    body = json.dumps(doc).encode()
    sig = registration.schnorr_sign(registration._digest(ts, body), reg).hex()
    res = client.put("/v1/wallets", body, {"x-nwc-timestamp": ts, "x-nwc-signature": sig})
    assert_clear_4xx(res)


def test_client_gone_mid_body_is_not_an_exception(tmp_path: Path) -> None:
    """A client that disconnects before its body is complete (found by the fuzz): the app
    answers (to nobody) instead of raising, so the server logs no traceback."""
    config = WatcherConfig(tmp_path / "w.db", challenge_function_urls=False)  # stand-in URLs
    watcher = Watcher(config, os.urandom(32))
    app = create_app(watcher)
    incoming = [{"type": "http.request", "body": b'{"wallet', "more_body": True}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
             "path": "/v1/wallets", "raw_path": b"/v1/wallets", "query_string": b"",
             "headers": [(b"x-nwc-timestamp", b"1")], "scheme": "http", "server": ("w", 80),
             "client": ("c", 1), "root_path": ""}  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert starts and all(int(m["status"]) < 500 for m in starts)  # type: ignore[call-overload]
    watcher.db.close()
