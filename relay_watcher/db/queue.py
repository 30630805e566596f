"""The delivery queue: request de-duplication (`seen_events`), jobs with their retry schedule
and stored answers, and dead letters.

A job is `deliver` until its function answers, then `publish` with the answer's events kept
in the row, so a restart publishes instead of re-delivering. In-flight jobs are tracked in the
dispatcher's memory (one watcher per database); several watchers on one database would add a
lease column here.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from relay_watcher.db.base import Database

SCHEMA = """
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

MAX_ERROR_CHARS = 500


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


def new_id() -> str:
    return uuid.uuid4().hex


class DeliveryQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def accept_event(self, event: dict[str, Any], wallet: str, relays: list[str], now: int) -> bool:
        """Record a request once (de-dup by event id) and queue its delivery, atomically."""
        with self.db.tx() as c:
            inserted = c.execute(
                "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                (event["id"], now),
            )
            if inserted != 1:
                return False
            payload = json.dumps({"event": event, "relays": relays})
            self.enqueue(event["id"], wallet, "request", payload, now)
        return True

    def enqueue(self, job_id: str, wallet: str, kind: str, payload: str, now: int) -> None:
        """Queue a job unless one with this id is queued already (inside the caller's tx)."""
        self.db.execute(
            "INSERT INTO jobs (id, wallet_pubkey, kind, payload, state, events, attempts,"
            " next_at, created_at, last_error) VALUES (?, ?, ?, ?, 'deliver', NULL, 0, ?, ?,"
            " NULL) ON CONFLICT (id) DO NOTHING",
            (job_id, wallet, kind, payload, float(now), now),
        )

    def due_jobs(self, now: float, limit: int, skip: set[str]) -> list[Job]:
        rows = self.db.all(
            "SELECT id, wallet_pubkey, kind, payload, state, events, attempts, created_at"
            " FROM jobs WHERE next_at <= ? ORDER BY next_at LIMIT ?",
            (now, limit + len(skip)),
        )
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
        row = self.db.one("SELECT MIN(next_at) FROM jobs")
        return float(row[0]) if row and row[0] is not None else None

    def job_count(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM jobs")
        return int(row[0]) if row else 0

    def retry_later(self, job_id: str, attempts: int, at: float, error: str) -> None:
        self.db.execute(
            "UPDATE jobs SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
            (attempts, at, error[:MAX_ERROR_CHARS], job_id),
        )

    def to_publish(self, job_id: str, events: list[dict[str, Any]], attempts: int) -> None:
        """The function answered: keep its events until they are published."""
        self.db.execute(
            "UPDATE jobs SET state = 'publish', events = ?, attempts = ?, next_at = ? WHERE id = ?",
            (json.dumps(events), attempts, time.time(), job_id),
        )

    def finish(self, job_id: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def dead_letter(self, job: Job, attempts: int, error: str, now: int) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO dead_letters (id, wallet_pubkey, kind, payload, attempts,"
                " last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts,"
                " last_error = excluded.last_error, dead_at = excluded.dead_at",
                (
                    job.id,
                    job.wallet_pubkey,
                    job.kind,
                    json.dumps(job.payload),
                    attempts,
                    error[:MAX_ERROR_CHARS],
                    now,
                ),  # fmt: skip
            )
            c.execute("DELETE FROM jobs WHERE id = ?", (job.id,))

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self.db.all(
            "SELECT id, wallet_pubkey, kind, attempts, last_error, dead_at FROM dead_letters"
            " ORDER BY dead_at"
        )
        keys = ("id", "wallet_pubkey", "kind", "attempts", "last_error", "dead_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def forget_seen(self, before: int) -> None:
        self.db.execute("DELETE FROM seen_events WHERE seen_at < ?", (before,))
