"""The watcher's own rules without relays: signed registrations (bad signature, replay, stale
update, another wallet's key), garbage from relays counted and dropped, filter planning."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from relay_watcher import registration
from relay_watcher.relays import CHUNK, CHUNKED_MAX, plan_filters
from relay_watcher.service import Watcher, WatcherConfig
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The watcher's state on SQLite, then on PostgreSQL (tests/pg.py)."""
    return pg.target(request, tmp_path)


def make(target: Path | str) -> Watcher:
    # the function URLs below are on loopback, as in a local stack
    # the function URLs below are stand-ins: no function answers the registration challenge
    config = WatcherConfig(target, allow_private_function_urls=True, challenge_function_urls=False)
    return Watcher(config, os.urandom(32))


def register(w: Watcher, headers: dict[str, str], body: bytes) -> int:
    return asyncio.run(w.register(headers, body))[0]


def signed(reg: bytes, services: list[bytes], now: int | None = None) -> tuple[dict, bytes]:
    return registration.build(reg, now=now or int(time.time()), function_url="http://127.0.0.1:9/",
                              relays=["ws://127.0.0.1:9"], service_secrets=services)  # fmt: skip


def test_registration_rules(watcher_db: Path | str) -> None:
    w = make(watcher_db)
    reg, svc = os.urandom(32), os.urandom(32)
    headers, body = signed(reg, [svc])
    assert register(w, headers, body) == 200
    assert register(w, headers, body) == 409  # replay
    bad = {**headers, "x-nwc-signature": "00" * 64}
    assert register(w, bad, body) == 401
    assert register(w, *signed(reg, [svc], int(time.time()) - 1000)) == 401  # stale
    assert register(w, *signed(os.urandom(32), [svc])) == 409  # another wallet's key
    forged = json.loads(body)
    forged["service_keys"][0]["pubkey"] = "ab" * 32
    raw = json.dumps(forged).encode()
    ts = headers["x-nwc-timestamp"]
    from signer_core.crypto.secp import schnorr_sign

    sig = schnorr_sign(registration._digest(ts, raw), reg).hex()
    assert register(w, {**headers, "x-nwc-signature": sig}, raw) in (400, 401)
    assert len(w.keys) == 1


def test_garbage_is_counted_and_dropped(watcher_db: Path | str) -> None:
    w = make(watcher_db)
    reg, svc = os.urandom(32), os.urandom(32)
    assert register(w, *signed(reg, [svc])) == 200
    service = next(iter(w.keys))
    good = sign_event(os.urandom(32), 23194, "x", [["p", service]])
    tampered = {**good, "content": "y"}
    other = sign_event(os.urandom(32), 23194, "x", [["p", "cd" * 32]])
    messages = ["{not json", json.dumps(["EVENT", "s", "nope"]),
                json.dumps(["EVENT", "s", tampered]), json.dumps(["EVENT", "s", other]),
                "x" * (200 * 1024), json.dumps(["EVENT", "s", good]),
                json.dumps(["EVENT", "s", good]), json.dumps(["NOTICE", "hi"])]  # fmt: skip
    for text in messages:
        asyncio.run(w.on_message("ws://127.0.0.1:9", text))
    dropped = {s.labels["reason"]: s.value for m in w.metrics.dropped.collect()
               for s in m.samples if s.name.endswith("_total")}  # fmt: skip
    assert dropped == {"bad_json": 1, "bad_event": 1, "invalid": 1, "not_ours": 1, "oversize": 1}
    assert w.db.queue.job_count() == 1  # one delivery for the request seen twice
    w.db.close()


def test_filter_plan_chunks_then_goes_kind_wide() -> None:
    keys = [f"{i:064x}" for i in range(CHUNK + 1)]
    assert [len(f["#p"]) for f in plan_filters(keys, 0)] == [CHUNK, 1]
    wide = plan_filters([f"{i:064x}" for i in range(CHUNKED_MAX + 1)], 0)
    assert wide == [{"kinds": [23194], "since": 0}]


def test_a_relay_url_nostr_sdk_refuses_does_not_block_the_others(watcher_db: Path | str) -> None:
    """Found by the fuzz: "ws://" passes registration but nostr-sdk cannot parse it; the
    subscription sync used to raise on it, so relays after it were never subscribed (for
    every wallet of the watcher), retried every 5 s forever."""
    from nwc_signer.dev.relay import InProcessRelay

    relay = InProcessRelay().start()
    try:
        w = make(watcher_db)
        headers, body = registration.build(
            os.urandom(32), now=int(time.time()), function_url="http://127.0.0.1:9/",
            relays=["ws://", relay.url], service_secrets=[os.urandom(32)],
        )  # fmt: skip
        assert register(w, headers, body) == 200

        async def sync() -> set[str]:
            await w.pool.start()
            try:
                await w._sync_subscriptions()
                return set(w.pool.plans)
            finally:
                await w.pool.close()

        assert asyncio.run(sync()) == {relay.url}
        w.db.close()
    finally:
        relay.stop()
