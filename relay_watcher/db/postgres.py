"""PostgreSQL (psycopg 3) behind the same interface as SQLite: several watcher replicas share
one database (docs/operating.md).

One autocommit connection per replica, used from the event loop. A lost connection (database
restart, network) is reopened on the next call; a statement outside a transaction is retried
once on the new connection (every such statement of the stores is idempotent: UPDATE/DELETE by
id, INSERT ... ON CONFLICT DO NOTHING); a transaction that loses its connection raises
DatabaseUnavailable with nothing committed, and its caller retries later. Reconnection
attempts are spaced RECONNECT_EVERY_S apart, so an outage costs a quick refusal per call, not
a stalled event loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from relay_watcher.db.base import Database, DatabaseUnavailable, Row

T = TypeVar("T")
RECONNECT_EVERY_S = 0.5
CONNECT_TIMEOUT_S = 3
IDLE_PING_S = 1.0
STATEMENT_TIMEOUT_MS = 30_000  # a transaction after this much quiet checks the connection first


@functools.lru_cache(maxsize=512)
def _q(sql: str) -> str:
    """Portable `?` placeholders to psycopg's `%s` (a literal % is doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._c: psycopg.Connection[Any] | None = None
        self._in_tx = False
        self._next_try = 0.0
        self._last_error = ""
        self._last_used = 0.0
        self._conn()  # fail fast at start-up with the reason

    def describe(self) -> str:
        try:
            parts = conninfo_to_dict(self.url)
        except psycopg.Error:
            return "postgresql:(unparsable URL)"
        host, port, name = parts.get("host", ""), parts.get("port", ""), parts.get("dbname", "")
        return f"postgresql://{host}:{port}/{name}"

    def _conn(self) -> psycopg.Connection[Any]:
        c = self._c
        if c is not None and not c.closed and not c.broken:
            return c
        self._c = None
        now = time.monotonic()
        if now < self._next_try:
            raise DatabaseUnavailable(self._last_error)
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                # a peer that vanished (network, failover) is noticed in ~25 s, not hours
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
            # no statement may hold the event loop indefinitely (a stuck lock, a sick server)
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            self._c = conn
        except psycopg.Error as exc:
            self._next_try = now + RECONNECT_EVERY_S
            self._last_error = f"cannot connect to {self.describe()}: {str(exc).strip()[:200]}"
            raise DatabaseUnavailable(self._last_error) from None
        return self._c

    def _lost(self, exc: psycopg.Error) -> DatabaseUnavailable:
        self._c = None
        self._last_error = f"connection to {self.describe()} lost: {str(exc).strip()[:200]}"
        return DatabaseUnavailable(self._last_error)

    def _run(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        if self._in_tx:
            conn = self._conn()
            try:
                return fn(conn)
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:
                    raise self._lost(exc) from None
                raise
        for attempt in (0, 1):
            conn = self._conn()
            try:
                result = fn(conn)
                self._last_used = time.monotonic()
                return result
            except psycopg.OperationalError as exc:
                if not (conn.broken or conn.closed):
                    raise
                lost = self._lost(exc)
                if attempt:
                    raise lost from None
                self._next_try = 0.0  # reconnect at once for the one retry
        raise AssertionError("unreachable")

    @contextmanager
    def tx(self) -> Iterator[Database]:
        if self._in_tx:  # a store's transaction inside another one joins it
            yield self
            return
        if time.monotonic() - self._last_used > IDLE_PING_S:
            self.one("SELECT 1")  # reconnects here if the server went away while idle
        conn = self._conn()
        self._in_tx = True
        try:
            with conn.transaction():
                yield self
            self._last_used = time.monotonic()
        except psycopg.OperationalError as exc:
            if conn.broken or conn.closed:
                raise self._lost(exc) from None
            raise
        finally:
            self._in_tx = False

    def lock(self, name: str) -> None:
        self.one("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        params = tuple(args)
        return self._run(lambda c: int(c.execute(_q(sql), params).rowcount))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [tuple(r) for r in rows]
        if batch:
            self._run(lambda c: c.cursor().executemany(_q(sql), batch))

    def one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        params = tuple(args)
        row = self._run(lambda c: c.execute(_q(sql), params).fetchone())
        return tuple(row) if row is not None else None

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        params = tuple(args)
        return [tuple(r) for r in self._run(lambda c: c.execute(_q(sql), params).fetchall())]

    def stream(self, sql: str, args: Iterable[Any] = ()) -> Iterator[Row]:
        """A server-side cursor in its own transaction: a million rows never sit in memory."""
        with self.tx():
            conn = self._conn()
            try:
                with conn.cursor(name=f"stream_{id(self)}") as cur:
                    cur.itersize = 5000
                    cur.execute(_q(sql), tuple(args))
                    for row in cur:
                        yield tuple(row)
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:
                    raise self._lost(exc) from None
                raise

    def close(self) -> None:
        if self._c is not None:
            self._c.close()
            self._c = None
