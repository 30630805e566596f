"""The watcher's database on SQLite and on a real PostgreSQL (tests/pg.py): versioned
migrations, job leases between replicas (claim, expiry and take-over, the per-wallet limit
across replicas, owner-guarded updates), wake-ups that fire once, and on PostgreSQL a
database restart: connections come back, nothing queued is lost, requests seen while the
database was away are held and queued when it returns.

Two `WatcherDB` handles on one database stand for two replicas; time is passed in (`now`),
so lease expiry needs no sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from relay_watcher.db import DatabaseUnavailable, WatcherDB
from relay_watcher.db.migrations import LATEST, MIGRATIONS, applied
from relay_watcher.service import Watcher, WatcherConfig
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The watcher's state on SQLite, then on PostgreSQL (tests/pg.py)."""
    return pg.target(request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    url = pg.module_database(request.module.__name__)
    pg.empty(url)
    return url


def wallet(db: WatcherDB, name: str, now: int = 0) -> str:
    pub = name * (64 // len(name))
    sig = os.urandom(8).hex()
    db.registry.register(pub, "http://127.0.0.1:9/", ["ws://127.0.0.1:9"], [], now, sig, now)
    return pub


def queue_request(db: WatcherDB, wallet_pub: str, now: int = 100) -> str:
    event = {"id": os.urandom(32).hex(), "kind": 23194}
    assert db.queue.accept_event(event, wallet_pub, ["ws://r"], now)
    return str(event["id"])


def test_migrations_are_versioned_and_run_once(watcher_db: Path | str) -> None:
    first = WatcherDB(watcher_db)
    assert applied(first.base) == [m.version for m in MIGRATIONS]
    second = WatcherDB(watcher_db)  # a second replica starting: nothing left to apply
    assert applied(second.base) == [m.version for m in MIGRATIONS]
    first.base.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       (LATEST + 1, "from the future", 0))  # fmt: skip
    with pytest.raises(RuntimeError, match="newer than this watcher"):
        WatcherDB(watcher_db)
    first.base.execute("DELETE FROM schema_migrations WHERE version = ?", (LATEST + 1,))
    first.close()
    second.close()


def test_a_database_from_before_migrations_is_upgraded(tmp_path: Path) -> None:
    """A watcher.db written by the single-process watcher (its tables, no migrations table)
    keeps its rows and gains the lease columns."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0].sql)
    conn.execute("INSERT INTO jobs VALUES ('j', 'w', 'wake', '{}', 'deliver', NULL, 0, 1, 1, NULL)")
    conn.commit()
    conn.close()
    db = WatcherDB(path)
    assert applied(db.base) == [m.version for m in MIGRATIONS]
    assert [j.id for j in db.queue.claim("r1", 10.0, 5, 2, 30)] == ["j"]
    db.close()


def test_a_lease_keeps_a_job_from_other_replicas_until_it_expires(watcher_db: Path | str) -> None:
    a, b = WatcherDB(watcher_db), WatcherDB(watcher_db)
    job = queue_request(a, wallet(a, "a1"))
    assert [j.id for j in a.queue.claim("A", 200.0, 10, 2, lease_s=30)] == [job]
    assert b.queue.claim("B", 201.0, 10, 2, lease_s=30) == []  # leased by A
    a.queue.renew("A", [job], 260.0)  # A's heartbeat while the delivery runs
    assert b.queue.claim("B", 250.0, 10, 2, lease_s=30) == []
    # A died: its lease runs out and B takes the job over, with its stored state
    taken = b.queue.claim("B", 261.0, 10, 2, lease_s=30)
    assert [j.id for j in taken] == [job] and taken[0].payload["event"]["id"] == job
    # A, back late, cannot reschedule B's job; B can finish it
    a.queue.retry_later(job, 1, 999.0, "late", "A")
    assert a.base.one("SELECT lease_owner, next_at FROM jobs WHERE id = ?", (job,)) == ("B", 100.0)
    b.queue.finish(job)
    assert a.queue.job_count() == 0
    a.close()
    b.close()


def test_the_per_wallet_limit_holds_across_replicas(watcher_db: Path | str) -> None:
    a, b = WatcherDB(watcher_db), WatcherDB(watcher_db)
    busy, other = wallet(a, "b1"), wallet(a, "c2")
    for _ in range(5):
        queue_request(a, busy)
    queue_request(a, other)
    got_a = a.queue.claim("A", 200.0, 1, 2, lease_s=30)
    got_b = b.queue.claim("B", 200.0, 10, 2, lease_s=30)
    claimed = [j.wallet_pubkey for j in got_a + got_b]
    assert claimed.count(busy) == 2 and claimed.count(other) == 1
    assert a.queue.claim("A", 201.0, 10, 2, lease_s=30) == []  # both of busy's slots taken
    b.queue.retry_later(got_b[0].id, 1, 150.0, "HTTP 500", "B")  # a slot comes free
    assert len(a.queue.claim("A", 202.0, 10, 2, lease_s=30)) == 1
    a.close()
    b.close()


def test_a_clean_stop_hands_jobs_back_at_once(watcher_db: Path | str) -> None:
    a, b = WatcherDB(watcher_db), WatcherDB(watcher_db)
    job = queue_request(a, wallet(a, "d3"))
    assert a.queue.claim("A", 200.0, 10, 2, lease_s=300)
    a.queue.release("A")
    assert [j.id for j in b.queue.claim("B", 200.5, 10, 2, lease_s=30)] == [job]
    a.close()
    b.close()


def test_due_wake_ups_fire_once_across_replicas(watcher_db: Path | str) -> None:
    a, b = WatcherDB(watcher_db), WatcherDB(watcher_db)
    pubs = [wallet(a, f"{i:02x}", now=0) for i in range(20)]
    # every wallet's first info refresh is due at registration (0)
    assert a.wakes.enqueue_due(100, 3600) + b.wakes.enqueue_due(100, 3600) == 20
    for job in a.queue.claim("A", 200.0, 100, 2, 30):
        a.queue.finish(job.id)
    for pub in pubs[:10]:  # functions asked to be woken at 500
        a.wakes.set_wake(pub, 500)
    assert b.wakes.enqueue_due(400, 3600) + a.wakes.enqueue_due(400, 3600) == 0
    assert b.wakes.enqueue_due(500, 3600) + a.wakes.enqueue_due(500, 3600) == 10
    a.close()
    b.close()


def test_a_wake_taken_by_another_replica_mid_step_is_not_fired_again(pg_url: str) -> None:
    """Interleaved on PostgreSQL: replica A has read a due wallet when replica B takes it,
    delivers it and commits; A's step must not queue it a second time."""
    a, b = WatcherDB(pg_url), WatcherDB(pg_url)
    pub = wallet(a, "e4", now=0)
    counts: list[int] = []
    with b.tx() as c:  # B's step, not committed yet: it holds the wallet row
        c.execute("UPDATE wallets SET wake_at = NULL, info_at = ? WHERE wallet_pubkey = ?",
                  (10_000, pub))  # fmt: skip
        stepping = threading.Thread(target=lambda: counts.append(a.wakes.enqueue_due(100, 3600)))
        stepping.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(pg_url):  # A read the row as due and now waits for it
            assert time.monotonic() < deadline, "replica A never reached the wallet row"
            time.sleep(0.01)
        # B delivered the wake already (its job came and went) before committing
    stepping.join(30)
    assert counts == [0]
    assert a.queue.job_count() == 0
    a.close()
    b.close()


def _waiting_on_a_lock(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND datname = current_database()").fetchone()  # fmt: skip
    return bool(row and row[0])


def test_a_database_restart_loses_nothing_queued(pg_url: str) -> None:
    db = WatcherDB(pg_url)
    pub = wallet(db, "f5")
    jobs = {queue_request(db, pub) for _ in range(3)}
    leased = db.queue.claim("A", 200.0, 1, 2, 30)
    pg.server().restart()  # every connection is cut
    assert db.queue.job_count() == 3  # reconnected on the next statement
    # a transaction cut half-way commits nothing
    with pytest.raises(DatabaseUnavailable), db.tx() as c:
        c.execute("DELETE FROM jobs")
        _cut_connections(pg_url)
        c.execute("DELETE FROM seen_events")
    rows = db.base.all("SELECT id, lease_owner FROM jobs")
    assert {r[0] for r in rows} == jobs
    assert [r[0] for r in rows if r[1] == "A"] == [leased[0].id]
    db.close()


def _cut_connections(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip


def test_requests_seen_while_the_database_is_away_are_held_then_queued(pg_url: str) -> None:
    config = WatcherConfig(pg_url, allow_private_function_urls=True, challenge_function_urls=False)
    watcher = Watcher(config, os.urandom(32))
    pub = wallet(watcher.db, "a6")
    service = "5e" * 32
    watcher.db.registry.update_keys(pub, [service], [])
    watcher._load_registry()
    events = [sign_event(os.urandom(32), 23194, f"r{i}", [["p", service]]) for i in range(3)]
    server = pg.server()
    server.stop()
    try:
        for event in events:
            asyncio.run(watcher.on_message("ws://r", json.dumps(["EVENT", "s", event])))
        assert len(watcher.pending) == 3
        with pytest.raises(DatabaseUnavailable):
            watcher._flush_pending()
        assert len(watcher.pending) == 3  # still held
    finally:
        server.start()
    deadline = time.monotonic() + 30
    while watcher.pending:  # the scheduler's step, until the database answers again
        assert time.monotonic() < deadline, "the held requests were never queued"
        with contextlib.suppress(DatabaseUnavailable):
            watcher._flush_pending()
        time.sleep(0.05)
    queued = {r[0] for r in watcher.db.base.all("SELECT id FROM jobs")}
    assert queued == {e["id"] for e in events}
    watcher.db.close()


def _signed(
    reg: bytes, services: list[bytes], action: str = "register"
) -> tuple[dict[str, str], bytes]:
    from relay_watcher import registration

    return registration.build(reg, now=int(time.time()), function_url="http://127.0.0.1:9/",
                              relays=["ws://127.0.0.1:9"], service_secrets=services,
                              action=action)  # fmt: skip


def test_replicas_follow_registrations_from_the_change_log(watcher_db: Path | str) -> None:
    """A registration, a key change over NWC, an unregistration, a suspension and its end on
    replica A reach replica B through the change log: applied without rescanning the
    registry, and only for the wallets B owns. A gap in the log (a version bumped without
    its row) asks for a full scan."""
    import hashlib
    from dataclasses import replace

    from relay_watcher.replicas import owners
    from signer_core.crypto.secp import xonly_pubkey

    config = WatcherConfig(watcher_db, allow_private_function_urls=True, subscription_copies=1,
                           challenge_function_urls=False)  # fmt: skip
    a = Watcher(replace(config, replica_id="replica-a"), os.urandom(32))
    b = Watcher(replace(config, replica_id="replica-b"), os.urandom(32))
    now = time.time()
    a._heartbeat(now), b._heartbeat(now), a._heartbeat(now)
    live = tuple(sorted((a.replica_id, b.replica_id)))
    b._load_registry()
    scans = b.watching.scans
    regs = [hashlib.sha256(f"wallet {i}".encode()).digest() for i in range(12)]
    services = [os.urandom(32) for _ in regs]
    for reg, svc in zip(regs, services, strict=True):
        assert asyncio.run(a.register(*_signed(reg, [svc])))[0] == 200
    assert b.watching.follow() is True
    mine = {xonly_pubkey(r).hex() for r in regs
            if owners(xonly_pubkey(r).hex(), live, 1) == [b.replica_id]}  # fmt: skip
    assert 0 < len(mine) < len(regs)  # the split is real (fixed ids and keys: always so)
    assert set(b.keys.values()) == mine
    assert b.watching.scans == scans  # no rescan

    reg = next(r for r in regs if xonly_pubkey(r).hex() in mine)
    wallet, old = xonly_pubkey(reg).hex(), xonly_pubkey(services[regs.index(reg)]).hex()
    new = os.urandom(32).hex()
    assert a.db.registry.update_keys(wallet, [new], [old])
    b.watching.follow()
    assert b.keys.get(new) == wallet and old not in b.keys
    a.db.tenants.suspend(wallet, "test", int(time.time()))
    b.watching.follow()
    assert new not in b.keys
    a.db.tenants.resume(wallet)
    b.watching.follow()
    assert b.keys.get(new) == wallet
    assert asyncio.run(a.register(*_signed(reg, [], "unregister")))[0] == 200
    b.watching.follow()
    assert wallet not in b.keys.values()
    assert b.watching.scans == scans

    a.db.base.execute("UPDATE watcher_meta SET value = value + 1 WHERE name = 'registry_version'")
    assert b.watching.follow() is None  # a gap: only a full scan can tell
    a.db.close()
    b.db.close()
