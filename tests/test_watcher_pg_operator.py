"""Operating a shared watcher (issue #13), on SQLite and PostgreSQL: suspending a wallet
stops serving it (registration refused, keys no longer watched, its queue dead-lettered,
wake-ups held), resuming serves it again; removing forgets it; the per-wallet queue limit
refuses a flood from one tenant; per-wallet counts; the operator commands' JSON."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from relay_watcher import registration
from relay_watcher.__main__ import main
from relay_watcher.db import QueueFull
from relay_watcher.service import Watcher, WatcherConfig
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.events import sign_event
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The watcher's state on SQLite, then on PostgreSQL (tests/pg.py)."""
    return pg.target(request, tmp_path)


@pytest.fixture
def function() -> Iterator[str]:
    """A loopback function answering every delivery 200 with nothing to publish."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def watcher(target: Path | str, **config: object) -> Watcher:
    config.setdefault("challenge_function_urls", False)  # stand-in function URLs
    return Watcher(WatcherConfig(target, allow_private_function_urls=True, **config),  # type: ignore[arg-type]
                   os.urandom(32))  # fmt: skip


def register(
    w: Watcher, reg: bytes, services: list[bytes], url: str = "http://127.0.0.1:9/"
) -> int:
    headers, body = registration.build(
        reg, now=int(time.time()), function_url=url, relays=["ws://127.0.0.1:9"],
        service_secrets=services,
    )  # fmt: skip
    return asyncio.run(w.register(headers, body))[0]


def request_to(service: bytes) -> str:
    event = sign_event(os.urandom(32), 23194, "x", [["p", xonly_pubkey(service).hex()]])
    return json.dumps(["EVENT", "s", event])


def cli(target: Path | str, *argv: str) -> object:
    where = (
        ["--database-url", str(target)]
        if pg_url(target)
        else ["--data-dir", str(Path(target).parent)]
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([argv[0], *where, *argv[1:]]) == 0
    return json.loads(out.getvalue())


def pg_url(target: Path | str) -> bool:
    return isinstance(target, str)


def test_suspend_then_resume(watcher_db: Path | str, tmp_path: Path) -> None:
    if not pg_url(watcher_db):
        watcher_db = tmp_path / "watcher.db"  # the CLI's --data-dir names the file so
    w = watcher(watcher_db)
    reg, svc = os.urandom(32), os.urandom(32)
    wallet = xonly_pubkey(reg).hex()
    assert register(w, reg, [svc]) == 200
    asyncio.run(w.on_message("ws://127.0.0.1:9", request_to(svc)))
    assert w.db.queue.job_count() == 1

    answer = cli(watcher_db, "wallets", "suspend", wallet, "--reason", "abuse")
    assert answer == {"suspended": wallet, "dead_lettered": 1}
    assert w.db.queue.job_count() == 0
    assert [d["last_error"] for d in w.db.queue.dead_letters()] == [
        "suspended by the operator: abuse"
    ]
    assert register(w, reg, [svc]) == 403  # cannot come back on its own
    w._load_registry()
    assert w.keys == {}  # no longer watched
    asyncio.run(w.on_message("ws://127.0.0.1:9", request_to(svc)))
    assert w.db.queue.job_count() == 0
    assert w.db.wakes.enqueue_due(int(time.time()) + 10, 3600) == 0  # its info refresh held
    listed = cli(watcher_db, "wallets", "list", "--wallet", wallet)
    assert isinstance(listed, list) and len(listed) == 1
    assert listed[0]["suspended"] == "abuse" and listed[0]["dead_letters"] == 1

    assert cli(watcher_db, "wallets", "resume", wallet) == {"resumed": True}
    assert register(w, reg, [svc]) == 200
    w._load_registry()
    assert set(w.keys.values()) == {wallet}
    assert w.db.wakes.enqueue_due(int(time.time()) + 10, 3600) == 1
    w.db.close()


def test_remove_forgets_a_wallet(watcher_db: Path | str, tmp_path: Path) -> None:
    if not pg_url(watcher_db):
        watcher_db = tmp_path / "watcher.db"
    w = watcher(watcher_db)
    reg, svc = os.urandom(32), os.urandom(32)
    wallet = xonly_pubkey(reg).hex()
    assert register(w, reg, [svc]) == 200
    version = w.db.registry.version()
    assert cli(watcher_db, "wallets", "remove", wallet) == {"removed": True, "suspended": False}
    assert w.db.registry.wallet(wallet) is None and w.db.registry.version() > version
    assert cli(watcher_db, "wallets", "list") == []
    assert register(w, reg, [svc]) == 200  # may come back (not suspended)
    assert cli(watcher_db, "wallets", "remove", wallet, "--suspend")["suspended"] is True  # type: ignore[index]
    assert register(w, reg, [svc]) == 403
    w.db.close()


def test_a_tenant_flood_is_refused_past_its_queue_limit(watcher_db: Path | str) -> None:
    w = watcher(watcher_db, max_queued_per_wallet=3)
    flooder, quiet = os.urandom(32), os.urandom(32)
    assert register(w, os.urandom(32), [flooder]) == 200
    assert register(w, os.urandom(32), [quiet]) == 200
    for _ in range(5):
        asyncio.run(w.on_message("ws://127.0.0.1:9", request_to(flooder)))
    asyncio.run(w.on_message("ws://127.0.0.1:9", request_to(quiet)))
    assert w.db.queue.job_count() == 4  # 3 of the flood, the other tenant's one
    dropped = {s.labels["reason"]: s.value for m in w.metrics.dropped.collect()
               for s in m.samples if s.name.endswith("_total")}  # fmt: skip
    assert dropped == {"wallet_queue_full": 2}
    with pytest.raises(QueueFull):
        w.db.queue.accept_event({"id": "ab" * 32}, next(iter(w.keys.values())), [], 0, 0)
    w.db.close()


def test_deliveries_are_counted_per_wallet(watcher_db: Path | str, function: str) -> None:
    w = watcher(watcher_db)
    reg = os.urandom(32)
    assert register(w, reg, [os.urandom(32)], function) == 200

    async def deliver() -> None:
        task = asyncio.create_task(w.dispatcher.run())
        try:
            for _ in range(600):  # bounded: a minute
                if w.db.queue.job_count() == 0 and w.db.tenants.listing()[0]["delivered"]:
                    return
                w.db.wakes.enqueue_due(int(time.time()), 3600)
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await w.dispatcher.close()

    asyncio.run(deliver())  # the info refresh at registration
    (listed,) = w.db.tenants.listing()
    assert (listed["delivered"], listed["failed"], listed["queued"]) == (1, 0, 0)
    assert listed["wallet_pubkey"] == xonly_pubkey(reg).hex()
    w.db.close()


def test_the_commands_mount_under_nwc_signer(watcher_db: Path | str, tmp_path: Path) -> None:
    """`nwc-signer watcher ...` (nwc_signer/cli.py mounts `add_parser`): the same commands,
    dispatched through `func` as the CLI does."""
    import argparse

    from relay_watcher.__main__ import add_parser

    if not pg_url(watcher_db):
        watcher_db = tmp_path / "watcher.db"
    w = watcher(watcher_db)
    reg = os.urandom(32)
    assert register(w, reg, [os.urandom(32)]) == 200
    parser = argparse.ArgumentParser(prog="nwc-signer")
    add_parser(parser.add_subparsers(dest="command", required=True))
    where = ["--database-url", str(watcher_db)] if pg_url(watcher_db) else [
        "--data-dir", str(tmp_path)]  # fmt: skip
    args = parser.parse_args(["watcher", "wallets", *where, "list"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    assert [x["wallet_pubkey"] for x in json.loads(out.getvalue())] == [xonly_pubkey(reg).hex()]
    serve = parser.parse_args(["watcher", "serve", *where, "--key-file", "k", "--copies", "3"])
    assert (serve.watcher_command, serve.copies, serve.func) == ("serve", 3, args.func)
    w.db.close()
