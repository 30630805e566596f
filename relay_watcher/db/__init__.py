"""The watcher's durable state, one module per concern over one connection (base.py):

- `registry.py`  wallets, their wallet-service keys, used registration signatures
- `queue.py`     request de-dup, delivery jobs (retries, stored answers), dead letters
- `wakes.py`     the wake-up and info-refresh schedule that feeds the queue

SQLite in the data folder; the SQL is what PostgreSQL also runs (BIGINT / DOUBLE PRECISION /
TEXT, ON CONFLICT ... DO NOTHING/UPDATE, no SQLite-only functions), so only base.py changes
for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relay_watcher.db import queue, registry
from relay_watcher.db.base import Database
from relay_watcher.db.queue import DeliveryQueue, Job, new_id
from relay_watcher.db.registry import Conflict, Registry, Wallet
from relay_watcher.db.wakes import WakeSchedule

__all__ = ["Conflict", "Database", "DeliveryQueue", "Job", "Registry", "WakeSchedule",
           "Wallet", "WatcherDB", "new_id"]  # fmt: skip


class WatcherDB:
    """The three stores on one database (one transaction can span them: same connection)."""

    def __init__(self, path: Path | str) -> None:
        self.base = Database(path, (registry.SCHEMA, queue.SCHEMA))
        self.registry = Registry(self.base)
        self.queue = DeliveryQueue(self.base)
        self.wakes = WakeSchedule(self.base, self.queue)

    @contextmanager
    def tx(self) -> Iterator[Database]:
        with self.base.tx() as c:
            yield c

    def close(self) -> None:
        self.base.close()
