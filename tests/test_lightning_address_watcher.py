"""The watcher's lightning-address rules without relays, on SQLite and PostgreSQL: signed
claims (bad, reserved, taken names, replays, strangers, rate limit) and every LNURL-pay
refusal (unknown name, amount, zap request checks, comment, a function that is down, the
per-name limit): each a 4xx or 502/504 with LUD-06's {"status": "ERROR", "reason"}, never a
500."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from relay_watcher import lnurl, registration
from relay_watcher.limits import TokenBuckets
from relay_watcher.service import Watcher, WatcherConfig
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    return pg.target(request, tmp_path)


class Site:
    """A watcher (not started: no relays) with the lightning-address routes mounted."""

    def __init__(self, target: Path | str) -> None:
        config = WatcherConfig(
            target, allow_private_function_urls=True, challenge_function_urls=False
        )
        self.watcher = Watcher(config, os.urandom(32))
        self.app = FastAPI()
        self.service = lnurl.mount(self.app, self.watcher)
        self.service.timeout_s = 3.0

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://w.test") as c:
                return await c.request(method, path, **kw)

        return asyncio.run(go())

    def register(self, reg: bytes, function_url: str = "http://127.0.0.1:9/") -> None:
        headers, body = registration.build(reg, now=int(time.time()), function_url=function_url,
                                           relays=["ws://127.0.0.1:9"])  # fmt: skip
        assert asyncio.run(self.watcher.register(headers, body))[0] == 200

    def claim(self, reg: bytes, name: str, *, action: str = "claim") -> httpx.Response:
        headers, body = lnurl.build_claim(reg, name=name, nostr_pubkey="ab" * 32,
                                          now=int(time.time()), action=action)  # fmt: skip
        return self.request("POST", "/v1/lightning-address", headers=headers, content=body)

    def close(self) -> None:
        asyncio.run(self.service.close())
        self.watcher.db.close()


@pytest.fixture
def site(watcher_db: Path | str) -> Iterator[Site]:
    s = Site(watcher_db)
    yield s
    s.close()


def error(res: httpx.Response, status: int) -> str:
    assert res.status_code == status, res.text
    body = res.json()
    assert body["status"] == "ERROR"
    return str(body["reason"])


def zap_request(amount: int | None, *, relays: bool = True, kind: int = 9734) -> dict[str, Any]:
    tags = [["p", "cd" * 32]]
    if relays:
        tags.append(["relays", "ws://127.0.0.1:9"])
    if amount is not None:
        tags.append(["amount", str(amount)])
    return dict(sign_event(os.urandom(32), kind, "zap!", tags))


def test_claims(site: Site) -> None:
    site.service.claims = TokenBuckets(rate_per_s=0, burst=1)  # no limit here (rate 0)
    alice, bob = os.urandom(32), os.urandom(32)
    assert site.claim(alice, "alice").status_code == 404  # not registered yet
    site.register(alice)
    site.register(bob)
    for bad in ("Alice", "a" * 65, "al ice", "ali/ce", "...", "", "é"):
        assert site.claim(alice, bad).status_code == 400, bad
    assert "reserved" in site.claim(alice, "admin").json()["message"]
    res = site.claim(alice, "alice")
    assert res.status_code == 200, res.text
    assert res.json()["name"] == "alice"
    assert site.claim(bob, "alice").status_code == 409  # taken
    assert site.claim(bob, "bob").status_code == 200
    # one name per wallet: a new claim moves it, and frees the old one
    assert site.claim(alice, "alice2").status_code == 200
    assert site.request("GET", "/.well-known/lnurlp/alice").status_code == 404
    headers, body = lnurl.build_claim(alice, name="x", nostr_pubkey="ab" * 32,
                                      now=int(time.time()))  # fmt: skip
    first = site.request("POST", "/v1/lightning-address", headers=headers, content=body)
    assert first.status_code == 200
    again = site.request("POST", "/v1/lightning-address", headers=headers, content=body)
    assert again.status_code == 409  # replay
    forged = {**headers, "x-nwc-signature": "00" * 64}
    assert site.request("POST", "/v1/lightning-address", headers=forged,
                        content=body).status_code == 401  # fmt: skip
    stale, raw = lnurl.build_claim(alice, name="y", nostr_pubkey="ab" * 32,
                                   now=int(time.time()) - 1000)  # fmt: skip
    assert site.request("POST", "/v1/lightning-address", headers=stale,
                        content=raw).status_code == 401  # fmt: skip
    big = site.request("POST", "/v1/lightning-address", headers=headers, content=b"x" * 10_000)
    assert big.status_code == 413
    assert site.claim(alice, "", action="release").json() == {"released": True}
    assert site.request("GET", "/.well-known/lnurlp/x").status_code == 404


def test_claims_are_rate_limited(site: Site) -> None:
    reg = os.urandom(32)
    site.register(reg)
    codes = [site.claim(reg, f"n{i}").status_code for i in range(8)]
    assert codes[:5] == [200] * 5
    assert 429 in codes[5:]


def test_pay_request_and_every_callback_refusal(site: Site) -> None:
    reg = os.urandom(32)
    site.register(reg)  # its function URL is a closed port: the function is down
    assert site.claim(reg, "carol").status_code == 200
    assert "no such" in error(site.request("GET", "/.well-known/lnurlp/dave"), 404)
    assert "no such" in error(site.request("GET", "/lnurlp/dave/callback?amount=1000"), 404)
    res = site.request("GET", "/.well-known/lnurlp/Carol")  # looked up in lower case
    assert res.status_code == 200, res.text
    params = res.json()
    assert params["tag"] == "payRequest"
    assert params["callback"] == "http://w.test/lnurlp/carol/callback"
    assert params["allowsNostr"] is True and params["nostrPubkey"] == "ab" * 32
    assert ["text/identifier", "carol@w.test"] in json.loads(params["metadata"])
    low, high = params["minSendable"], params["maxSendable"]
    cb = "/lnurlp/carol/callback"
    assert "amount" in error(site.request("GET", cb), 400)
    assert "amount" in error(site.request("GET", f"{cb}?amount=١٠٠٠"), 400)
    assert "between" in error(site.request("GET", f"{cb}?amount={low - 1}"), 400)
    assert "between" in error(site.request("GET", f"{cb}?amount={high + 1}"), 400)
    long_comment = quote("x" * 300)
    assert "comment" in error(site.request("GET", f"{cb}?amount=5000&comment={long_comment}"), 400)

    def zap(event: dict[str, Any] | str, amount: int = 5000) -> httpx.Response:
        text = event if isinstance(event, str) else json.dumps(event)
        return site.request("GET", f"{cb}?amount={amount}&nostr={quote(text)}")

    tampered = {**zap_request(5000), "content": "changed"}
    assert "invalid zap request" in error(zap(tampered), 400)
    assert "amount tag" in error(zap(zap_request(4000)), 400)
    assert "kind 9734" in error(zap(zap_request(5000, kind=1)), 400)
    assert "relays" in error(zap(zap_request(5000, relays=False)), 400)
    assert "JSON" in error(zap("{not json"), 400)
    assert "JSON" in error(zap("[" * 100 + "]" * 100), 400)
    two_p = sign_event(os.urandom(32), 9734, "", [["p", "cd" * 32], ["p", "ef" * 32],
                                                  ["relays", "ws://127.0.0.1:9"]])  # fmt: skip
    assert "p tag" in error(zap(dict(two_p)), 400)
    # all checks passed: the function is asked, and it is down
    reason = error(site.request("GET", f"{cb}?amount=5000"), 502)
    assert "cannot be reached" in reason
    assert "cannot be reached" in error(zap(zap_request(5000)), 502)
    # per-name limit: ten in a burst (three used above), then refused until tokens return
    codes = [site.request("GET", f"{cb}?amount=5000").status_code for _ in range(10)]
    assert 429 in codes and 500 not in codes


def test_a_suspended_or_removed_wallet_is_not_served(site: Site) -> None:
    reg = os.urandom(32)
    site.register(reg)
    assert site.claim(reg, "erin").status_code == 200
    wallet = xonly_pubkey(reg).hex()
    site.watcher.db.tenants.suspend(wallet, "test", int(time.time()))
    assert site.request("GET", "/.well-known/lnurlp/erin").status_code == 404
    site.watcher.db.tenants.resume(wallet)
    assert site.request("GET", "/.well-known/lnurlp/erin").status_code == 200
    headers, body = registration.build(reg, now=int(time.time()) + 1, action="unregister")
    assert asyncio.run(site.watcher.register(headers, body))[0] == 200
    assert site.request("GET", "/.well-known/lnurlp/erin").status_code == 404
    site.register(os.urandom(32))
    assert site.claim(os.urandom(32), "erin").status_code == 404  # a stranger: not registered


def test_an_unexpected_failure_is_an_lnurl_error_not_a_500(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = os.urandom(32)
    site.register(reg)
    assert site.claim(reg, "fay").status_code == 200

    def broken(*args: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(site.service.book, "lookup", broken)
    assert "failed" in error(site.request("GET", "/.well-known/lnurlp/fay"), 503)
    assert "failed" in error(site.request("GET", "/lnurlp/fay/callback?amount=5000"), 503)
    monkeypatch.setattr(site.service.book, "claim", broken)
    assert site.claim(reg, "gus").status_code == 503
