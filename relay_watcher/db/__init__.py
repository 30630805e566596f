"""The watcher's durable state, one module per concern over one connection (base.py):

- `registry.py`    wallets, their wallet-service keys, used registration signatures
- `queue.py`       request de-dup, delivery jobs (leases, retries, stored answers), dead letters
- `wakes.py`       the wake-up and info-refresh schedule that feeds the queue
- `replicas.py`    replica heartbeats (several watchers on one PostgreSQL database)
- `tenants.py`     operators: suspend / resume / remove a wallet, per-wallet delivery counts
- `migrations.py`  the versioned schema, applied at start

SQLite in the data folder by default (base.py); PostgreSQL for a hosted watcher with several
replicas (postgres.py, given a `postgresql://` URL). The stores speak portable SQL only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relay_watcher.db.base import Database, DatabaseUnavailable, SqliteDatabase
from relay_watcher.db.migrations import migrate
from relay_watcher.db.queue import DeliveryQueue, Job, QueueFull, new_id
from relay_watcher.db.registry import Conflict, Registry, Suspended, Wallet
from relay_watcher.db.replicas import ReplicaTable
from relay_watcher.db.tenants import Tenants
from relay_watcher.db.wakes import WakeSchedule

__all__ = ["Conflict", "Database", "DatabaseUnavailable", "DeliveryQueue", "Job", "QueueFull",
           "Registry", "ReplicaTable", "Suspended", "Tenants", "WakeSchedule", "Wallet",
           "WatcherDB", "new_id", "open_database"]  # fmt: skip


def is_database_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_database(target: Path | str) -> Database:
    """A `postgresql://` URL opens PostgreSQL (psycopg imported only then); anything else is
    the path of a SQLite file."""
    if is_database_url(target):
        from relay_watcher.db.postgres import PostgresDatabase

        return PostgresDatabase(str(target))
    return SqliteDatabase(target)


class WatcherDB:
    """The stores on one database (one transaction can span them: same connection)."""

    def __init__(self, target: Path | str) -> None:
        self.base = open_database(target)
        migrate(self.base)
        self.registry = Registry(self.base)
        self.queue = DeliveryQueue(self.base)
        self.wakes = WakeSchedule(self.base, self.queue)
        self.replicas = ReplicaTable(self.base)
        self.tenants = Tenants(self.base)

    @contextmanager
    def tx(self) -> Iterator[Database]:
        with self.base.tx() as c:
            yield c

    def close(self) -> None:
        self.base.close()
