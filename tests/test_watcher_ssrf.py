"""A shared watcher must not be turned against its operator's network (issue #9, defect 9):
function URLs that point at cloud metadata, private ranges, loopback, link-local, IPv6 ULA,
0.0.0.0, names resolving there, other schemes or userinfo are refused at registration (400,
saying why) unless the watcher allows private function URLs (local/dev stacks). At delivery
the address is checked again when the connection is opened: a name registered while public
that now resolves to a private address is not contacted; the job is dead-lettered.

No mocks: real registrations through the watcher, real DNS (`localhost` from /etc/hosts),
real HTTP servers on loopback standing in for a function that must never be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from relay_watcher import registration
from relay_watcher.__main__ import build_parser
from relay_watcher.service import Watcher, WatcherConfig
from tests import pg


@pytest.fixture(params=pg.BACKENDS)
def watcher_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The watcher's state on SQLite, then on PostgreSQL (tests/pg.py)."""
    return pg.target(request, tmp_path)


REFUSED = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6 (ULA)
    "http://10.0.0.1/fn",
    "http://172.16.5.4/fn",
    "http://192.168.1.1/fn",
    "http://100.64.0.1/fn",  # carrier-grade NAT
    "http://127.0.0.1:8787/",
    "http://127.1/",  # short form of 127.0.0.1
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f000001/",
    "http://0.0.0.0:8787/",
    "http://0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::ffff:169.254.169.254]/",
    "http://224.0.0.1/",  # multicast
    "http://localhost:8787/",  # a name that resolves to loopback
    "http://LOCALHOST./",
    "https://user:pw@1.1.1.1/",  # userinfo
    "https://1.1.1.1@127.0.0.1/",  # userinfo that hides the real host
    "ftp://1.1.1.1/",
    "file:///etc/passwd",
    "gopher://1.1.1.1/",
    "http:///nohost",
    "https://does-not-exist.invalid/",  # does not resolve
]


def make(target: Path | str, **config: bool) -> Watcher:
    # the address rules are under test: the URLs are stand-ins that answer no challenge
    config.setdefault("challenge_function_urls", False)
    return Watcher(WatcherConfig(target, **config), os.urandom(32))  # type: ignore[arg-type]


def register(w: Watcher, url: str) -> tuple[int, dict[str, object]]:
    headers, body = registration.build(os.urandom(32), now=int(time.time()), function_url=url,
                                       relays=["wss://relay.example"],
                                       service_secrets=[os.urandom(32)])  # fmt: skip
    return asyncio.run(w.register(headers, body))


@pytest.mark.parametrize("url", REFUSED)
def test_refused_by_default_with_a_reason(watcher_db: Path | str, url: str) -> None:
    w = make(watcher_db)
    status, answer = register(w, url)
    assert status == 400, (status, answer)
    assert "function_url" in str(answer["message"])
    assert w.db.registry.wallet_count() == 0 and not w.keys
    w.db.close()


@pytest.mark.parametrize("url", ["https://1.1.1.1/fn", "http://8.8.8.8:8080/x",
                                 "https://[2606:4700:4700::1111]/fn"])  # fmt: skip
def test_public_addresses_are_accepted(watcher_db: Path | str, url: str) -> None:
    w = make(watcher_db)
    assert register(w, url)[0] == 200
    w.db.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/", "http://localhost:8787/",
                                 "http://[::1]:8787/", "http://10.1.2.3/"])  # fmt: skip
def test_dev_mode_allows_private_addresses(watcher_db: Path | str, url: str) -> None:
    w = make(watcher_db, allow_private_function_urls=True)
    assert register(w, url)[0] == 200
    w.db.close()


@pytest.mark.parametrize("url", ["https://user:pw@127.0.0.1/", "ftp://127.0.0.1/"])
def test_dev_mode_still_refuses_userinfo_and_other_schemes(
    watcher_db: Path | str, url: str
) -> None:
    w = make(watcher_db, allow_private_function_urls=True)
    assert register(w, url)[0] == 400
    w.db.close()


def test_cli_flag_sets_the_config() -> None:
    parser = build_parser()
    base = ["serve", "--data-dir", "d", "--key-file", "k"]
    assert parser.parse_args(base).allow_private_function_urls is False
    assert parser.parse_args([*base, "--allow-private-function-urls"]).allow_private_function_urls
    assert WatcherConfig(Path("x")).allow_private_function_urls is False


class _Function:
    """A loopback HTTP server that counts the requests it gets and answers 200 `{}`."""

    def __init__(self) -> None:
        hits = self.hits = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length") or 0))
                hits[0] += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def function() -> Iterator[_Function]:
    fn = _Function()
    yield fn
    fn.close()


def _deliver_one(w: Watcher, url: str) -> None:
    """A wallet registered earlier with `url` (as if it had resolved to a public address
    then), one wake delivery queued; run the dispatcher until the queue is empty."""
    wallet = "ab" * 32
    w.db.registry.register(wallet, url, ["ws://127.0.0.1:9"], [], int(time.time()), "s", 0)
    w.db.wakes.wake_now(wallet, int(time.time()))

    async def run() -> None:
        task = asyncio.create_task(w.dispatcher.run())
        try:
            for _ in range(600):  # bounded: at most a minute
                if w.db.queue.job_count() == 0:
                    return
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await w.dispatcher.close()

    asyncio.run(run())


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_delivery_to_a_private_address_is_dead_lettered(
    watcher_db: Path | str, function: _Function, host: str
) -> None:
    w = make(watcher_db)
    _deliver_one(w, f"http://{host}:{function.port}/")
    assert function.hits[0] == 0  # never contacted
    dead = w.db.queue.dead_letters()
    assert len(dead) == 1 and dead[0]["attempts"] == 1
    assert "refused" in dead[0]["last_error"] and "127.0.0.1" in dead[0]["last_error"]
    w.db.close()


def test_delivery_in_dev_mode_reaches_the_function(
    watcher_db: Path | str, function: _Function
) -> None:
    """The control for the test above: the same delivery, allowed, arrives."""
    w = make(watcher_db, allow_private_function_urls=True)
    _deliver_one(w, f"http://localhost:{function.port}/")
    assert function.hits[0] == 1
    assert w.db.queue.dead_letters() == []
    w.db.close()
