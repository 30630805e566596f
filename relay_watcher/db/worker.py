"""Database work off the event loop: one connection of its own, used from one worker thread.

The delivery path (accepting requests, claiming jobs, storing answers, finishing jobs) used
to run its statements on the event loop, one synchronous round trip at a time: with many
deliveries in flight the loop spent its time waiting on PostgreSQL instead of reading relays
and answering HTTP. Here the loop awaits the work instead, and what many deliveries write
as they end is *group-committed*: every write submitted while the previous group was running
goes into the next transaction (one commit for many jobs, no timer: an idle watcher writes
each at once, a busy one in batches as large as the load).

One thread, one connection: psycopg and sqlite3 connections are not for concurrent use, and
the group commit needs one writer anyway. The replica's other work (heartbeat, wake-ups,
registrations, the registry) keeps its own connection (service.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from relay_watcher.db import WatcherDB

T = TypeVar("T")
Op = Callable[[WatcherDB], Any]

log = logging.getLogger("relay_watcher.db")


class DbThread:
    def __init__(self, db: WatcherDB) -> None:
        self.db = db
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="watcher-db")
        self._group: list[tuple[Op, asyncio.Future[Any]]] = []
        self._flushing = False
        self.groups = 0  # committed groups and the writes in them (/health)
        self.writes = 0

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    async def write(self, op: Callable[[WatcherDB], T]) -> T:
        """Run `op(db)` in the next group commit; its result, or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._group.append((op, future))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        result: T = await future
        return result

    async def _flush(self) -> None:
        try:
            while self._group:
                group, self._group = self._group, []
                try:
                    results = await self.call(self._commit, [op for op, _ in group])
                except BaseException as exc:  # the thread pool itself failed (shutdown)
                    results = [(False, exc)] * len(group)
                for (_, future), (ok, value) in zip(group, results, strict=True):
                    if future.done():  # its caller was cancelled
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = False

    def _commit(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        """All in one transaction; if any fails, each again on its own (one bad write does
        not fail the others; every write here may be run twice: by id, guarded, or counted
        only when its transaction commits)."""
        try:
            with self.db.tx():
                out: list[tuple[bool, Any]] = [(True, op(self.db)) for op in ops]
            self.groups += 1
            self.writes += len(ops)
            return out
        except Exception as exc:
            if len(ops) == 1:
                return [(False, exc)]
        out = []
        for op in ops:
            try:
                out.append((True, op(self.db)))
            except Exception as exc:
                out.append((False, exc))
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()
