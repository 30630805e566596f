"""The one place that knows the database driver: connection, pragmas, transactions, placeholders.

SQLite today (WAL; one writer: the watcher's event loop). The stores (registry, queue, wakes)
speak only portable SQL through `Database.execute/one/all/executemany` and `tx()`, so a
PostgreSQL base later replaces this file alone: placeholders (`?` -> `%s`) in `_q`, the pragmas
in `__init__`, `BEGIN IMMEDIATE` in `tx`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Row = tuple[Any, ...]


def _q(sql: str) -> str:
    """The one place placeholders would change for PostgreSQL (`?` -> `%s`)."""
    return sql


class Database:
    """One connection; statements run on the caller's thread (the event loop)."""

    def __init__(self, path: Path | str, schema: Iterable[str]) -> None:
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
        for part in schema:
            self.conn.executescript(part)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[Database]:
        """One transaction (taken for writing at once); statements inside go through the
        yielded Database as usual. Rolled back on any exception."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        return int(self.conn.execute(_q(sql), tuple(args)).rowcount)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        self.conn.executemany(_q(sql), (tuple(r) for r in rows))

    def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        row = self.conn.execute(_q(sql), tuple(args)).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return [tuple(r) for r in self.conn.execute(_q(sql), tuple(args)).fetchall()]

    def stream(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        """Rows one by one (the registry at start-up: 100,000 wallets need not sit in a list)."""
        for row in self.conn.execute(_q(sql), tuple(args)):
            yield tuple(row)
