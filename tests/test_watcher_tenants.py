"""Tenants of a shared watcher (issue #13): registration proves control of the function URL
(the challenge), per-wallet request and registration limits with clear refusals, and
per-tenant metrics whose cardinality stays bounded.

The challenge is answered here by a stand-in function holding the wallet's registration key
(every real runtime answers it too: tests/conformance, test_registration_challenge_...)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest

from relay_watcher import registration
from relay_watcher.api import create_app
from relay_watcher.limits import TokenBuckets
from relay_watcher.metrics import Metrics
from relay_watcher.service import Watcher, WatcherConfig
from relay_watcher.tenant_metrics import TenantCounter
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.challenge import sign_challenge
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    return pg.target(request, tmp_path)


class Function:
    """Answers challenges with `key` (None: answers `status` without a signature); `delay`
    seconds late. Counts the challenges it got."""

    def __init__(self, watcher_pubkey: str, key: bytes | None, status: int = 200,
                 delay: float = 0.0) -> None:  # fmt: skip
        self.challenges = 0
        fn = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                fn.challenges += body.get("type") == "challenge"
                time.sleep(delay)
                answer: dict[str, Any] = {"events": [], "message": "bad webhook signature"}
                if key is not None and body.get("type") == "challenge":
                    ch = body["challenge"]
                    answer["challenge_signature"] = sign_challenge(
                        key, ch["nonce"], watcher_pubkey, ch["function_url"]
                    )
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fn"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def function(w: Watcher, key: bytes | None, **kw: Any) -> Iterator[Function]:
    fn = Function(w.pubkey, key, **kw)
    try:
        yield fn
    finally:
        fn.close()


def make(target: Path | str, **config: Any) -> Watcher:
    return Watcher(WatcherConfig(target, allow_private_function_urls=True, **config),
                   os.urandom(32))  # fmt: skip


def register(w: Watcher, reg: bytes, url: str, client: str = "") -> tuple[int, dict[str, Any]]:
    headers, body = registration.build(reg, now=int(time.time()), function_url=url,
                                       relays=["ws://127.0.0.1:9"],
                                       service_secrets=[os.urandom(32)])  # fmt: skip
    return asyncio.run(w.register(headers, body, client))


# --- the challenge ------------------------------------------------------------------------


def test_registration_needs_the_function_to_sign_the_challenge(watcher_db: Path | str) -> None:
    w = make(watcher_db, challenge_timeout_s=1.0)
    reg = os.urandom(32)
    with function(w, reg) as good, function(w, reg) as moved, function(w, os.urandom(32)) as other:
        assert register(w, reg, good.url)[0] == 200
        assert good.challenges == 1
        assert register(w, reg, good.url)[0] == 200  # same URL again: not asked again
        assert good.challenges == 1
        # a URL whose server signs with another key (another wallet's function): refused
        status, answer = register(w, reg, other.url)
        assert status == 422 and "wrong key" in answer["message"], answer
        found = w.db.registry.wallet(xonly_pubkey(reg).hex())
        assert found is not None and found.function_url == good.url
        assert register(w, reg, moved.url)[0] == 200  # a new URL of its own: asked, accepted
        assert moved.challenges == 1
    w.db.close()


def test_challenge_failures_say_what_happened(tmp_path: Path) -> None:
    w = make(tmp_path / "w.db", challenge_timeout_s=0.5)
    reg = os.urandom(32)
    with function(w, reg) as fn:
        closed = fn.url
    status, answer = register(w, reg, closed)
    assert status == 422 and "unreachable" in answer["message"], answer
    with function(w, reg, delay=2.0) as slow:
        status, answer = register(w, reg, slow.url)
    assert status == 422 and "within 0.5 s" in answer["message"], answer
    with function(w, None, status=401) as wrong_watcher:
        status, answer = register(w, reg, wrong_watcher.url)
    assert status == 422 and w.pubkey in answer["message"], answer  # which key to configure
    with function(w, None) as unsigned:
        status, answer = register(w, reg, unsigned.url)
    assert status == 422 and "without a challenge_signature" in answer["message"], answer
    assert w.db.registry.wallet(xonly_pubkey(reg).hex()) is None
    w.db.close()


# --- registration limits --------------------------------------------------------------------


def test_registrations_over_the_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    w = make(tmp_path / "w.db", challenge_function_urls=False, registrations_per_min=6)
    reg = os.urandom(32)
    statuses = [register(w, reg, "http://127.0.0.1:9/")[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]  # a burst of 5, then 6 a minute
    status, answer = register(w, reg, "http://127.0.0.1:9/")
    assert status == 429 and answer["retry_after"] >= 1
    assert "of this wallet" in answer["message"]
    assert register(w, os.urandom(32), "http://127.0.0.1:9/")[0] == 200  # others unaffected
    # through the HTTP API: the status, a Retry-After header and the message
    headers, body = registration.build(reg, now=int(time.time()), function_url="http://x.test/",
                                       relays=["ws://127.0.0.1:9"])  # fmt: skip

    async def put() -> httpx.Response:
        transport = httpx.ASGITransport(create_app(w))  # no lifespan: the watcher is not started
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            return await client.put("/v1/wallets", content=body, headers=headers)

    res = asyncio.run(put())
    assert res.status_code == 429 and int(res.headers["Retry-After"]) >= 1
    assert "too many registrations" in res.json()["message"]
    w.db.close()


def test_registrations_per_client_address_are_limited(tmp_path: Path) -> None:
    w = make(tmp_path / "w.db", challenge_function_urls=False,
             registrations_per_min_per_client=3)  # fmt: skip
    statuses = [register(w, os.urandom(32), "http://127.0.0.1:9/", "10.0.0.1")[0]
                for _ in range(4)]  # fmt: skip
    assert statuses == [200, 200, 200, 429]
    assert register(w, os.urandom(32), "http://127.0.0.1:9/", "10.0.0.2")[0] == 200
    w.db.close()


# --- request limits -------------------------------------------------------------------------


def test_token_bucket() -> None:
    b = TokenBuckets(rate_per_s=1.0, burst=2)
    assert [b.take("a", 0.0), b.take("a", 0.0)] == [0.0, 0.0]
    assert b.take("a", 0.0) == pytest.approx(1.0)  # refused: one more in a second
    assert b.take("a", 1.0) == 0.0
    assert b.reserve("a", 1.0, 5.0) == pytest.approx(1.0)  # deferred a second
    assert b.reserve("a", 1.0, 5.0) == pytest.approx(2.0)
    assert b.reserve("a", 1.0, 1.5) is None  # would wait 3 s: refused, nothing taken
    small = TokenBuckets(1.0, 1, max_keys=3)
    for key in "abcd":
        small.take(key, 0.0)
    assert len(small) == 3


def test_requests_over_a_wallets_rate_are_deferred_then_dropped(watcher_db: Path | str) -> None:
    # 60 a minute (1/s), a burst of 2, at most 2 s of deferral
    w = make(watcher_db, challenge_function_urls=False, wallet_rate_per_min=60, wallet_burst=2,
             wallet_max_defer_s=2.0)  # fmt: skip
    reg = os.urandom(32)
    assert register(w, reg, "http://127.0.0.1:9/")[0] == 200
    wallet = xonly_pubkey(reg).hex()
    service = next(iter(w.keys))
    app = os.urandom(32)
    events = [sign_event(app, 23194, f"r{i}", [["p", service]]) for i in range(6)]
    started = time.time()
    asyncio.run(w.intake.on_messages([("ws://r", json.dumps(["EVENT", "s", e])) for e in events]))
    due = sorted(
        float(r[0]) for r in w.db.base.all("SELECT next_at FROM jobs WHERE kind = 'request'")
    )
    # 2 at once, 2 deferred (1 s, 2 s), 2 dropped (they would wait 3 s and 4 s > 2 s)
    assert [d - due[0] for d in due] == pytest.approx([0, 0, 1, 2])
    assert int(started) <= due[0] <= time.time()
    dropped = {s.labels["reason"]: s.value for m in w.metrics.dropped.collect()
               for s in m.samples if s.name.endswith("_total")}  # fmt: skip
    assert dropped == {"rate_limited": 2}
    (listed,) = w.db.tenants.listing(wallet=wallet)
    assert listed["throttled"] == 2
    other = sign_event(app, 23194, "x", [["p", service]])  # the same wallet, a second later:
    asyncio.run(w.intake.on_messages([("ws://r", json.dumps(["EVENT", "s", other]))]))
    assert w.db.queue.job_count() >= 4  # deferred again (tokens were taken from the future)
    w.db.close()


# --- per-tenant metrics -------------------------------------------------------------------


def test_ten_thousand_wallets_give_at_most_top_n_plus_one_label_values() -> None:
    metrics = Metrics(tenant_top_n=50)
    for i in range(10_000):
        for _ in range(1 + (i % 7 == 0) * 20):  # every 7th wallet is busy
            metrics.tenants.inc(f"{i:064x}", "delivered")
    metrics.tenants.inc(f"{7:064x}", "failed")
    text = generate_latest(metrics.registry).decode()
    lines = [x for x in text.splitlines() if x.startswith("nwc_watcher_tenant_deliveries_total")]
    wallets = {x.split('wallet="')[1].split('"')[0] for x in lines}
    assert len(wallets) <= 51 and "other" in wallets
    total = sum(float(x.rsplit(" ", 1)[1]) for x in lines)
    assert total == 10_000 + 1429 * 20 + 1  # nothing lost: the rest is in "other"
    named = wallets - {"other"}
    assert all(int(w, 16) % 7 == 0 for w in named)  # the busiest are the ones named
    assert len(metrics.tenants.counts) <= metrics.tenants.capacity  # memory bounded too


def test_tenant_counter_names_nobody_when_top_is_zero() -> None:
    counter = TenantCounter(top_n=0)
    counter.inc("a" * 64, "delivered")
    (family,) = counter.collect()
    assert [(s.labels["wallet"], s.value) for s in family.samples] == [("other", 1.0)]
