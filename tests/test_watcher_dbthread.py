"""The delivery path's database work (issue #13, throughput): the database thread's group
commit (db/worker.py) and new jobs announced by LISTEN/NOTIFY (db/notify.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from relay_watcher.db import WatcherDB
from relay_watcher.db.notify import JobListener
from relay_watcher.db.worker import DbThread
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    return pg.target(request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    url = pg.module_database(request.module.__name__)
    pg.empty(url)
    return url


def _wallet(db: WatcherDB, name: str) -> str:
    pub = name * 32
    db.registry.register(pub, "http://127.0.0.1:9/", ["ws://127.0.0.1:9"], [], 0, name, 0)
    return pub


def test_writes_made_together_commit_together_and_one_failure_fails_only_itself(
    watcher_db: Path | str,
) -> None:
    worker = DbThread(WatcherDB(watcher_db))
    wallet = _wallet(worker.db, "a1")
    for i in range(20):
        worker.db.queue.enqueue(f"job{i}", wallet, "wake", "{}", 0)

    def boom(db: WatcherDB) -> None:
        raise RuntimeError("a bad write")

    async def run() -> list[object]:
        def finish(i: int) -> Callable[[WatcherDB], None]:
            return lambda db: db.queue.finish(f"job{i}")

        ops = [worker.write(finish(i)) for i in range(20)]
        for _ in range(20):
            worker.count(wallet, "delivered")
        return await asyncio.gather(*ops, worker.write(boom), return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[-1], RuntimeError)
    assert all(r is None for r in results[:-1])  # the others went through
    assert worker.db.queue.job_count() == 0
    (listed,) = worker.db.tenants.listing(wallet=wallet)
    assert listed["delivered"] == 20  # summed per group: one statement, all counted
    assert worker.groups < 21  # grouped, not one transaction each
    worker.close()


def test_accepted_requests_are_announced_to_listening_replicas(pg_url: str) -> None:
    heard = threading.Event()
    listener = JobListener(pg_url, heard.set)
    listener.start()
    db = WatcherDB(pg_url)
    try:
        for _ in range(100):  # until it listens (no notification is kept for later)
            if listener.connected:
                break
            threading.Event().wait(0.05)
        assert listener.connected
        wallet = _wallet(db, "b2")
        event = dict(sign_event(bytes(range(1, 33)), 23194, "x", [["p", "cd" * 32]]))
        assert db.queue.accept_events([(event, wallet, ["ws://r"])], 0) == ["accepted"]
        assert heard.wait(10), "no notification"
        assert listener.notices >= 1
    finally:
        listener.stop()
        db.close()
