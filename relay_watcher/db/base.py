"""The interface every database driver offers the stores, and the SQLite one.

The stores (registry, queue, wakes, replicas) speak only portable SQL with `?` placeholders
through `Database.execute/one/all/executemany/stream` and `tx()`; a driver turns that into its
own dialect. SQLite (this file) is the default for one user and `nwc-signer dev`; PostgreSQL
(postgres.py) is for a hosted watcher with several replicas on one database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

Row = tuple[Any, ...]


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (restart, network); the caller retries later.
    Nothing of an interrupted transaction was committed."""


class Database:
    """One connection; statements run on the caller's thread (the event loop)."""

    dialect = "abstract"

    def tx(self) -> AbstractContextManager[Database]:
        """One transaction; statements inside go through the yielded Database. Rolled back on
        any exception."""
        raise NotImplementedError

    def lock(self, name: str) -> None:
        """Inside tx(): serialise this transaction with every other one taking `name` on the
        same database (several replicas). SQLite's write transactions are serial already."""

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        raise NotImplementedError

    def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        raise NotImplementedError

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def stream(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        """Rows one by one (the registry at start-up: 100,000 wallets need not sit in a list)."""
        raise NotImplementedError

    def ping(self) -> bool:
        """True if a trivial query answers (readiness)."""
        try:
            return self.one("SELECT 1") is not None
        except DatabaseUnavailable:
            return False

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the data is, without credentials (logs, /health)."""
        raise NotImplementedError


class SqliteDatabase(Database):
    """A file in the data folder; WAL, one writer (the watcher's event loop)."""

    dialect = "sqlite"

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

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    @contextmanager
    def tx(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # a store's transaction inside another one joins it
            yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")  # taken for writing at once
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        return int(self.conn.execute(sql, tuple(args)).rowcount)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        self.conn.executemany(sql, (tuple(r) for r in rows))

    def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        row = self.conn.execute(sql, tuple(args)).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return [tuple(r) for r in self.conn.execute(sql, tuple(args)).fetchall()]

    def stream(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        for row in self.conn.execute(sql, tuple(args)):
            yield tuple(row)
