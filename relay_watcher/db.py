"""The watcher's durable state: registry, event de-dup, delivery queue, dead letters, wake-ups.

SQLite in the data folder (WAL; one writer: the watcher's event loop). The SQL is kept to what
PostgreSQL runs unchanged (BIGINT / DOUBLE PRECISION / TEXT, ON CONFLICT ... DO NOTHING/UPDATE,
no SQLite-only functions); only the `?` placeholders need `%s` there, done in one place (`_q`).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS wallets (
    wallet_pubkey TEXT PRIMARY KEY,
    function_url TEXT NOT NULL,
    relays TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_registration BIGINT NOT NULL,
    wake_at BIGINT,
    info_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS wallets_wake_at ON wallets (wake_at);
CREATE INDEX IF NOT EXISTS wallets_info_at ON wallets (info_at);
CREATE TABLE IF NOT EXISTS service_keys (
    service_pubkey TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL REFERENCES wallets (wallet_pubkey) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS service_keys_wallet ON service_keys (wallet_pubkey);
CREATE TABLE IF NOT EXISTS used_signatures (
    signature TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_events_at ON seen_events (seen_at);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    events TEXT,
    attempts INTEGER NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_next_at ON jobs (next_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    dead_at BIGINT NOT NULL
);
"""


class Conflict(Exception):
    """A service key already belongs to another wallet, or a registration is stale."""


@dataclass
class Wallet:
    pubkey: str
    function_url: str
    relays: list[str]


@dataclass
class Job:
    id: str
    wallet_pubkey: str
    kind: str  # "request" | "wake"
    payload: dict[str, Any]
    state: str  # "deliver" | "publish"
    events: list[dict[str, Any]] | None
    attempts: int
    created_at: int


def _q(sql: str) -> str:
    """The one place placeholders would change for PostgreSQL (`?` -> `%s`)."""
    return sql


class WatcherDB:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a killed process loses nothing committed; power loss may lose the
        # last transactions (the relays still hold recent requests; see docs/watcher.md).
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _one(self, sql: str, args: Iterable[Any] = ()) -> Any:
        return self.conn.execute(_q(sql), tuple(args)).fetchone()

    # -- registry -------------------------------------------------------------------------

    def register(
        self,
        wallet: str,
        function_url: str,
        relays: list[str],
        service_pubkeys: list[str],
        signed_at: int,
        signature: str,
        now: int,
    ) -> list[str]:
        """Insert or replace a wallet's registration; returns the service keys it dropped."""
        with self.tx() as c:
            self._claim_signature(c, signature, signed_at, now)
            row = c.execute(
                _q("SELECT last_registration FROM wallets WHERE wallet_pubkey = ?"), (wallet,)
            ).fetchone()
            if row is not None and signed_at < row[0]:
                raise Conflict("a newer registration of this wallet was already accepted")
            for pub in service_pubkeys:
                owner = c.execute(
                    _q("SELECT wallet_pubkey FROM service_keys WHERE service_pubkey = ?"), (pub,)
                ).fetchone()
                if owner is not None and owner[0] != wallet:
                    raise Conflict(f"service key {pub[:12]}… is registered by another wallet")
            c.execute(
                _q(
                    "INSERT INTO wallets (wallet_pubkey, function_url, relays, registered_at,"
                    " last_registration, wake_at, info_at) VALUES (?, ?, ?, ?, ?, NULL, ?)"
                    " ON CONFLICT (wallet_pubkey) DO UPDATE SET"
                    " function_url = excluded.function_url,"
                    " relays = excluded.relays, last_registration = excluded.last_registration,"
                    " info_at = excluded.info_at"
                ),
                (wallet, function_url, json.dumps(relays), now, signed_at, now),
            )
            old = {
                r[0]
                for r in c.execute(
                    _q("SELECT service_pubkey FROM service_keys WHERE wallet_pubkey = ?"), (wallet,)
                )
            }
            dropped = sorted(old - set(service_pubkeys))
            for pub in dropped:
                c.execute(_q("DELETE FROM service_keys WHERE service_pubkey = ?"), (pub,))
            c.executemany(
                _q(
                    "INSERT INTO service_keys (service_pubkey, wallet_pubkey) VALUES (?, ?)"
                    " ON CONFLICT (service_pubkey) DO NOTHING"
                ),
                [(pub, wallet) for pub in service_pubkeys],
            )
        return dropped

    def unregister(self, wallet: str, signed_at: int, signature: str, now: int) -> bool:
        with self.tx() as c:
            self._claim_signature(c, signature, signed_at, now)
            row = c.execute(
                _q("SELECT last_registration FROM wallets WHERE wallet_pubkey = ?"), (wallet,)
            ).fetchone()
            if row is None:
                return False
            if signed_at < row[0]:
                raise Conflict("a newer registration of this wallet was already accepted")
            c.execute(_q("DELETE FROM service_keys WHERE wallet_pubkey = ?"), (wallet,))
            c.execute(_q("DELETE FROM wallets WHERE wallet_pubkey = ?"), (wallet,))
        return True

    def _claim_signature(self, c: sqlite3.Connection, sig: str, signed_at: int, now: int) -> None:
        c.execute(_q("DELETE FROM used_signatures WHERE expires_at < ?"), (now,))
        cur = c.execute(
            _q(
                "INSERT INTO used_signatures (signature, expires_at) VALUES (?, ?)"
                " ON CONFLICT (signature) DO NOTHING"
            ),
            (sig, signed_at + 3600),
        )
        if cur.rowcount != 1:
            raise Conflict("this registration was already used (replay)")

    def wallet(self, pubkey: str) -> Wallet | None:
        row = self._one(
            "SELECT function_url, relays FROM wallets WHERE wallet_pubkey = ?", (pubkey,)
        )
        return Wallet(pubkey, row[0], json.loads(row[1])) if row else None

    def service_keys(self) -> Iterator[tuple[str, str, str]]:
        """(service pubkey, wallet pubkey, relays JSON) of every registered key."""
        yield from self.conn.execute(
            "SELECT k.service_pubkey, k.wallet_pubkey, w.relays FROM service_keys k"
            " JOIN wallets w ON w.wallet_pubkey = k.wallet_pubkey"
        )

    def wallet_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM wallets")[0])

    # -- events and jobs ------------------------------------------------------------------

    def accept_event(self, event: dict[str, Any], wallet: str, relays: list[str], now: int) -> bool:
        """Record a request once (de-dup by event id) and queue its delivery, atomically."""
        with self.tx() as c:
            cur = c.execute(
                _q(
                    "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)"
                    " ON CONFLICT (event_id) DO NOTHING"
                ),
                (event["id"], now),
            )
            if cur.rowcount != 1:
                return False
            payload = json.dumps({"event": event, "relays": relays})
            self._insert_job(c, event["id"], wallet, "request", payload, now)
        return True

    def _insert_job(
        self, c: sqlite3.Connection, job_id: str, wallet: str, kind: str, payload: str, now: int
    ) -> None:
        c.execute(
            _q(
                "INSERT INTO jobs (id, wallet_pubkey, kind, payload, state, events, attempts,"
                " next_at, created_at, last_error) VALUES (?, ?, ?, ?, 'deliver', NULL, 0, ?, ?,"
                " NULL) ON CONFLICT (id) DO NOTHING"
            ),
            (job_id, wallet, kind, payload, float(now), now),
        )

    def due_jobs(self, now: float, limit: int, skip: set[str]) -> list[Job]:
        rows = self.conn.execute(
            _q(
                "SELECT id, wallet_pubkey, kind, payload, state, events, attempts, created_at"
                " FROM jobs WHERE next_at <= ? ORDER BY next_at LIMIT ?"
            ),
            (now, limit + len(skip)),
        ).fetchall()
        jobs = [
            Job(
                r[0],
                r[1],
                r[2],
                json.loads(r[3]),
                r[4],
                json.loads(r[5]) if r[5] else None,
                r[6],
                r[7],
            )  # fmt: skip
            for r in rows
            if r[0] not in skip
        ]
        return jobs[:limit]

    def next_due(self) -> float | None:
        row = self._one("SELECT MIN(next_at) FROM jobs")
        return float(row[0]) if row and row[0] is not None else None

    def job_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM jobs")[0])

    def retry_later(self, job_id: str, attempts: int, at: float, error: str) -> None:
        self.conn.execute(
            _q("UPDATE jobs SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?"),
            (attempts, at, error[:500], job_id),
        )

    def to_publish(self, job_id: str, events: list[dict[str, Any]], attempts: int) -> None:
        """The function answered: keep its events until they are published."""
        self.conn.execute(
            _q(
                "UPDATE jobs SET state = 'publish', events = ?, attempts = ?, next_at = ?"
                " WHERE id = ?"
            ),
            (json.dumps(events), attempts, time.time(), job_id),
        )

    def finish(self, job_id: str) -> None:
        self.conn.execute(_q("DELETE FROM jobs WHERE id = ?"), (job_id,))

    def dead_letter(self, job: Job, attempts: int, error: str, now: int) -> None:
        with self.tx() as c:
            c.execute(
                _q(
                    "INSERT INTO dead_letters (id, wallet_pubkey, kind, payload, attempts,"
                    " last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts,"
                    " last_error = excluded.last_error, dead_at = excluded.dead_at"
                ),
                (
                    job.id,
                    job.wallet_pubkey,
                    job.kind,
                    json.dumps(job.payload),
                    attempts,
                    error[:500],
                    now,
                ),  # fmt: skip
            )
            c.execute(_q("DELETE FROM jobs WHERE id = ?"), (job.id,))

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT id, wallet_pubkey, kind, attempts, last_error, dead_at FROM dead_letters"
            " ORDER BY dead_at"
        ).fetchall()
        keys = ("id", "wallet_pubkey", "kind", "attempts", "last_error", "dead_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def forget_seen(self, before: int) -> None:
        self.conn.execute(_q("DELETE FROM seen_events WHERE seen_at < ?"), (before,))

    # -- wake-ups -------------------------------------------------------------------------

    def set_wake(self, wallet: str, wake_at: int) -> None:
        """Keep the earliest requested wake-up."""
        self.conn.execute(
            _q(
                "UPDATE wallets SET wake_at = ? WHERE wallet_pubkey = ?"
                " AND (wake_at IS NULL OR wake_at > ?)"
            ),
            (wake_at, wallet, wake_at),
        )

    def enqueue_due_wakes(self, now: int, info_interval_s: int, limit: int = 500) -> int:
        """Turn due wake-ups and info refreshes into wake jobs (one pending per wallet)."""
        with self.tx() as c:
            rows = c.execute(
                _q(
                    "SELECT wallet_pubkey FROM wallets WHERE wake_at <= ? UNION"
                    " SELECT wallet_pubkey FROM wallets WHERE info_at <= ? LIMIT ?"
                ),
                (now, now, limit),
            ).fetchall()
            for (wallet,) in rows:
                c.execute(
                    _q("UPDATE wallets SET wake_at = NULL, info_at = ? WHERE wallet_pubkey = ?"),
                    (now + info_interval_s, wallet),
                )
                self._insert_job(c, f"wake:{wallet}", wallet, "wake", "{}", now)
        return len(rows)

    def wake_now(self, wallet: str, now: int) -> None:
        with self.tx() as c:
            self._insert_job(c, f"wake:{wallet}", wallet, "wake", "{}", now)


def new_id() -> str:
    return uuid.uuid4().hex
