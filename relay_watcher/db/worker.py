"""Database work off the event loop: one connection of its own, used from one worker thread.

The delivery path (accepting requests, claiming jobs, storing answers, finishing jobs) used
to run its statements on the event loop, one synchronous round trip at a time: with many
deliveries in flight the loop spent its time waiting on PostgreSQL instead of reading relays
and answering HTTP. Here the loop awaits the work instead, and what many deliveries write
as they end is *group-committed*: every write submitted while the previous group was running
goes into the next transaction (one commit for many jobs, no timer: an idle watcher writes
each at once, a busy one in batches as large as the load).

One thread, one connection: psycopg and sqlite3 connections are not for concurrent use, and
the group commit needs one writer anyway. Every write to the rows of jobs this replica holds
goes through here (lease renewals too), so its two connections never wait on each other's
row locks. Per-wallet counts (`count`) are summed per group and written last, in wallet
order: two replicas' groups then take those rows' locks in the same order (no deadlock).
The replica's other work (heartbeat, wake-ups, registrations, the registry) keeps its own
connection (service.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
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
        self._counts: Counter[tuple[str, str]] = Counter()  # (wallet, outcome) -> n
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None
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
        self._start(loop)
        result: T = await future
        return result

    def count(self, wallet: str, outcome: str) -> None:
        """Add to a wallet's counts (tenants.record) in the next group; never fails anyone."""
        self._counts[(wallet, outcome)] += 1
        self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flushing:
            self._flushing = True
            # kept: the loop holds tasks only weakly, and a flush must not vanish mid-way
            self._flush_task = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._group or self._counts:
                group, self._group = self._group, []
                counts, self._counts = self._counts, Counter()
                try:
                    results = await self.call(self._commit, [op for op, _ in group], counts)
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

    def _commit(self, ops: list[Op], counts: Counter[tuple[str, str]]) -> list[tuple[bool, Any]]:
        """All in one transaction; if any fails, each again on its own (one bad write does
        not fail the others; every write here may be run twice: by id, guarded, or counted
        only when its transaction commits)."""
        now = int(time.time())
        try:
            with self.db.tx():
                out: list[tuple[bool, Any]] = [(True, op(self.db)) for op in ops]
                self._record(counts, now)
            self.groups += 1
            self.writes += len(ops)
            return out
        except Exception as exc:
            if len(ops) == 1 and not counts:
                return [(False, exc)]
        out = []
        for op in ops:
            try:
                out.append((True, op(self.db)))
            except Exception as exc:
                out.append((False, exc))
        try:
            self._record(counts, now)
        except Exception as exc:  # counts for operators: never worth failing a delivery
            log.debug("per-wallet counts not written: %s", exc)
        return out

    def _record(self, counts: Counter[tuple[str, str]], now: int) -> None:
        for (wallet, outcome), n in sorted(counts.items()):
            self.db.tenants.record(wallet, outcome, now, n)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()
