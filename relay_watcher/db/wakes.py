"""The wake schedule: per wallet the earliest wake-up a function asked for (`wake_at`) and the
next info refresh (`info_at`), both columns of the registry's wallets table; due rows become
wake jobs in the delivery queue (one pending per wallet: job id `wake:<wallet>`).

Every replica runs the scheduler; a due row fires once: the UPDATE that clears it re-checks
that it is still due (on PostgreSQL a second replica's UPDATE waits for the first one's
commit, then finds the row no longer due and changes nothing), and only the replica whose
UPDATE changed the row queues the job.
"""

from __future__ import annotations

from relay_watcher.db.base import Database
from relay_watcher.db.queue import DeliveryQueue


class WakeSchedule:
    def __init__(self, db: Database, queue: DeliveryQueue) -> None:
        self.db, self.queue = db, queue

    def set_wake(self, wallet: str, wake_at: int) -> None:
        """Keep the earliest requested wake-up."""
        self.db.execute(
            "UPDATE wallets SET wake_at = ? WHERE wallet_pubkey = ?"
            " AND (wake_at IS NULL OR wake_at > ?)",
            (wake_at, wallet, wake_at),
        )

    def enqueue_due(self, now: int, info_interval_s: int, limit: int = 500) -> int:
        """Turn due wake-ups and info refreshes into wake jobs (one pending per wallet)."""
        queued = 0
        with self.db.tx() as c:
            rows = c.all(
                "SELECT wallet_pubkey FROM wallets WHERE wake_at <= ? UNION"
                " SELECT wallet_pubkey FROM wallets WHERE info_at <= ? LIMIT ?",
                (now, now, limit),
            )
            suspended = {r[0] for r in c.all("SELECT wallet_pubkey FROM suspended_wallets")}
            for (wallet,) in rows:
                if wallet in suspended:  # kept due: it fires when the operator resumes it
                    continue
                taken = c.execute(
                    "UPDATE wallets SET wake_at = NULL, info_at = ? WHERE wallet_pubkey = ?"
                    " AND (wake_at <= ? OR info_at <= ?)",
                    (now + info_interval_s, wallet, now, now),
                )
                if taken == 1:
                    self.queue.enqueue(f"wake:{wallet}", wallet, "wake", "{}", now)
                    queued += 1
        return queued

    def wake_now(self, wallet: str, now: int) -> None:
        with self.db.tx():
            self.queue.enqueue(f"wake:{wallet}", wallet, "wake", "{}", now)
