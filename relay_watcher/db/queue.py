"""The delivery queue: request de-duplication (`seen_events`), jobs with their retry schedule
and stored answers, and dead letters.

A job is `deliver` until its function answers, then `publish` with the answer's events kept
in the row, so a restart publishes instead of re-delivering.

Leases (several replicas on one database): a replica claims due jobs by writing its id and a
`lease_until` into them; it renews the leases of its jobs in flight with its heartbeat; a job
whose lease ran out (its replica died) is due again and another replica claims it. Claims
take one lock per database (an advisory lock on PostgreSQL; SQLite's write transactions are
serial anyway), which makes the per-wallet limit exact across replicas: the claim counts the
wallet's live leases. Updates after a delivery are guarded by the owner, so a replica whose
lease was taken over cannot reschedule the new owner's job.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from relay_watcher.db.base import Database

MAX_ERROR_CHARS = 500
ACCEPTED, DUPLICATE, FULL = "accepted", "duplicate", "full"
CLAIM_LOCK = "nwc-watcher-claim"

_COLUMNS = "id, wallet_pubkey, kind, payload, state, events, attempts, created_at"

# Due, unleased (or lease expired) jobs, at most `per_wallet` minus the wallet's live leases
# per wallet, oldest first. Portable: window functions run on SQLite >= 3.25 and PostgreSQL.
_CANDIDATES = """
SELECT id FROM (
    SELECT j.id, j.next_at,
           ROW_NUMBER() OVER (PARTITION BY j.wallet_pubkey ORDER BY j.next_at, j.id) AS rn,
           COALESCE(a.busy, 0) AS busy
    FROM jobs j
    LEFT JOIN (SELECT wallet_pubkey, COUNT(*) AS busy FROM jobs
               WHERE lease_until IS NOT NULL AND lease_until > ?
               GROUP BY wallet_pubkey) a ON a.wallet_pubkey = j.wallet_pubkey
    WHERE j.next_at <= ? AND (j.lease_until IS NULL OR j.lease_until <= ?)
) c
WHERE rn + busy <= ?
ORDER BY next_at
LIMIT ?
"""


class QueueFull(Exception):
    """A wallet's per-tenant queue limit is reached (the request is refused, not kept)."""


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


def _job(r: tuple[Any, ...]) -> Job:
    events = json.loads(r[5]) if r[5] else None
    return Job(r[0], r[1], r[2], json.loads(r[3]), r[4], events, r[6], r[7])


class DeliveryQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def accept_event(
        self,
        event: dict[str, Any],
        wallet: str,
        relays: list[str],
        now: int,
        max_queued: int | None = None,
    ) -> bool:
        """Record a request once (de-dup by event id) and queue its delivery, atomically.
        Several replicas seeing one event: the first insert wins, the others get False.
        QueueFull if the wallet already has `max_queued` deliveries waiting (nothing kept)."""
        (outcome,) = self.accept_events([(event, wallet, relays)], now, max_queued)
        if outcome == FULL:
            raise QueueFull(f"wallet {wallet[:12]}… has {max_queued} deliveries queued")
        return outcome == ACCEPTED

    def accept_events(
        self,
        items: list[tuple[dict[str, Any], str, list[str]]],
        now: int,
        max_queued: int | None = None,
        delays: list[float] | None = None,
    ) -> list[str]:
        """`accept_event` for a batch read from the relays, in one transaction (one commit
        for many requests under load); an outcome per item: ACCEPTED, DUPLICATE or FULL.
        `delays`: seconds before each may be delivered (a wallet over its rate, limits.py)."""
        outcomes: list[str] = []
        with self.db.tx() as c:
            for n, (event, wallet, relays) in enumerate(items):
                inserted = c.execute(
                    "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)"
                    " ON CONFLICT (event_id) DO NOTHING",
                    (event["id"], now),
                )
                if inserted != 1:
                    outcomes.append(DUPLICATE)
                    continue
                if max_queued is not None:
                    row = c.one("SELECT COUNT(*) FROM jobs WHERE wallet_pubkey = ?", (wallet,))
                    if row is not None and int(row[0]) >= max_queued:
                        # not kept: a later copy may be accepted once the queue has room
                        c.execute("DELETE FROM seen_events WHERE event_id = ?", (event["id"],))
                        outcomes.append(FULL)
                        continue
                payload = json.dumps({"event": event, "relays": relays})
                due = now + (delays[n] if delays else 0.0)
                self.enqueue(event["id"], wallet, "request", payload, now, due)
                outcomes.append(ACCEPTED)
            if ACCEPTED in outcomes and c.dialect == "postgresql":
                c.execute("NOTIFY nwc_watcher_jobs")  # at commit: every replica (db/notify.py)
        return outcomes

    def enqueue(
        self, job_id: str, wallet: str, kind: str, payload: str, now: int, due: float | None = None
    ) -> bool:
        """Queue a job unless one with this id is queued already (inside the caller's tx)."""
        return (
            self.db.execute(
                "INSERT INTO jobs (id, wallet_pubkey, kind, payload, state, events, attempts,"
                " next_at, created_at, last_error) VALUES (?, ?, ?, ?, 'deliver', NULL, 0, ?, ?,"
                " NULL) ON CONFLICT (id) DO NOTHING",
                (job_id, wallet, kind, payload, float(now if due is None else due), now),
            )
            == 1
        )

    def claim(
        self, owner: str, now: float, limit: int, per_wallet: int, lease_s: float
    ) -> list[Job]:
        """Lease up to `limit` due jobs to `owner` until now + lease_s."""
        if limit <= 0:
            return []
        with self.db.tx() as c:
            c.lock(CLAIM_LOCK)
            ids = [r[0] for r in c.all(_CANDIDATES, (now, now, now, per_wallet, limit))]
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            c.execute(
                f"UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})",  # noqa: S608 (placeholders only)
                (owner, now + lease_s, *ids),
            )
            rows = c.all(f"SELECT {_COLUMNS} FROM jobs WHERE id IN ({marks})", ids)  # noqa: S608
        by_id = {r[0]: _job(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def renew(self, owner: str, job_ids: list[str], until: float) -> int:
        """Extend the leases of `owner`'s jobs in flight (its heartbeat); the number renewed.
        Only those: a job whose handling failed half-way is left to expire and come back."""
        if not job_ids:
            return 0
        marks = ", ".join("?" for _ in job_ids)
        return self.db.execute(
            f"UPDATE jobs SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks})",  # noqa: S608
            (until, owner, *job_ids),
        )

    def release(self, owner: str) -> int:
        """A replica stopping cleanly hands its jobs back at once (no lease to wait out)."""
        return self.db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
            (owner,),
        )

    def release_all(self) -> int:
        """SQLite at start: one process per file, so every lease is a dead process's."""
        return self.db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
        )

    def next_due(self) -> float | None:
        row = self.db.one("SELECT MIN(next_at) FROM jobs WHERE lease_until IS NULL")
        return float(row[0]) if row and row[0] is not None else None

    def job_count(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM jobs")
        return int(row[0]) if row else 0

    def leased_count(self, now: float) -> int:
        row = self.db.one("SELECT COUNT(*) FROM jobs WHERE lease_until > ?", (now,))
        return int(row[0]) if row else 0

    def retry_later(self, job_id: str, attempts: int, at: float, error: str, owner: str) -> None:
        """Back in the queue at `at`, unleased (unless another replica took it over)."""
        self.db.execute(
            "UPDATE jobs SET attempts = ?, next_at = ?, last_error = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE id = ? AND (lease_owner = ? OR lease_owner IS NULL)",
            (attempts, at, error[:MAX_ERROR_CHARS], job_id, owner),
        )

    def to_publish(
        self, job_id: str, events: list[dict[str, Any]], attempts: int, owner: str
    ) -> None:
        """The function answered: keep its events until they are published (lease kept)."""
        self.db.execute(
            "UPDATE jobs SET state = 'publish', events = ?, attempts = ?, next_at = ?"
            " WHERE id = ? AND (lease_owner = ? OR lease_owner IS NULL)",
            (json.dumps(events), attempts, time.time(), job_id, owner),
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
