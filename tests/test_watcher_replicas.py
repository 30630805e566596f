"""Several watcher processes on one PostgreSQL database (issue #13), end to end: the
project's relay (nostr-sdk's LocalRelay, which keeps no ephemeral events: a request nobody
is subscribed for when it passes is gone), a real wallet behind the local function, and
three `python -m relay_watcher serve --database-url` replicas with short heartbeats.

- one replica subscribed for the wallet is SIGKILLed: requests sent right after are still
  answered (each wallet is watched by two replicas);
- the replica holding a delivery's lease is SIGKILLed while the function has the request:
  another replica delivers it again once the lease runs out, and the app gets its answer;
- every request is accepted once across replicas (de-dup table) and answered by exactly one
  reply; every scheduled wake-up of six more wallets fires once;
- the database restarts while deliveries are in flight and a request arrives while it is
  down: the replicas reconnect, hold the request in memory until then, and nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from nwc_signer.dev.relay import InProcessRelay
from nwc_signer.dev.watcher import WatcherProcess, register_wallet, wallet_keys
from relay_watcher import registration
from relay_watcher.replicas import owners
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.challenge import sign_challenge
from tests import pg
from tests.e2e import Listener, metric, served, wait_for
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = [pytest.mark.mint, pytest.mark.timeout(300)]

# short enough for a test, long enough for two cores shared with other work
TIMING = ("--replica-ttl", "3", "--heartbeat", "0.5", "--lease", "3", "--copies", "2")
WAKE_IN_S = 3


class Hop:
    """An HTTP hop in front of the function: counts request deliveries by event id and can
    hold them (a delivery in flight, for as long as the test wants)."""

    def __init__(self, target: str) -> None:
        self.seen: Counter[str] = Counter()
        self.opened = threading.Event()
        self.opened.set()
        hop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = json.loads(body).get("event") or {}
                hop.seen[event.get("id", "wake")] += 1
                hop.opened.wait(60)
                res = httpx.post(target, content=body, headers=dict(self.headers.items()),
                                 timeout=30)  # fmt: skip
                with contextlib.suppress(OSError):  # the watcher may be gone (killed)
                    self.send_response(res.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(res.content)))
                    self.end_headers()
                    self.wfile.write(res.content)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.opened.set()
        self.server.shutdown()
        self.server.server_close()


class WakeFunction:
    """Stands in for the functions of wake-only wallets (`/w/<n>`): counts the wake
    deliveries of each; the first one of a wallet asks to be woken again WAKE_IN_S later.
    Answers the registration challenge as a function does, with each wallet's key."""

    def __init__(self, watcher_pubkey: str) -> None:
        self.wakes: Counter[str] = Counter()
        self.asked: dict[str, int] = {}
        self.keys: dict[str, bytes] = {}  # name -> registration secret
        fn = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                name = self.path.rsplit("/", 1)[-1]
                answer: dict[str, Any] = {"events": []}
                if body.get("type") == "challenge":
                    ch = body["challenge"]
                    answer["challenge_signature"] = sign_challenge(
                        fn.keys[name], ch["nonce"], watcher_pubkey, ch["function_url"]
                    )
                else:
                    fn.wakes[name] += 1
                    if fn.wakes[name] == 1:
                        answer["wake_at"] = fn.asked[name] = int(time.time()) + WAKE_IN_S
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def database() -> str:
    url = pg.module_database(__name__)
    pg.empty(url)
    return url


@contextlib.contextmanager
def replicas(n: int, folder: Path, key: bytes, url: str) -> Iterator[list[WatcherProcess]]:
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "watcher.key"
    key_file.write_text(key.hex())
    key_file.chmod(0o600)
    remember_secret(key)
    started: list[WatcherProcess] = []
    try:
        for i in range(n):
            started.append(WatcherProcess(folder / f"r{i}", key_file, 0, *TIMING,
                                          database_url=url).start())  # fmt: skip
        wait_for(lambda: all(w.health()["replicas_live"] == n for w in started), 30,
                 f"{n} replicas to see each other")  # fmt: skip
        yield started
    finally:
        for w in started:
            w.stop()


def wait_subscribed(url: str, watchers: list[WatcherProcess], who: str) -> None:
    """Until each has subscribed for the registry as it is now (not merely loaded keys)."""
    ((version,),) = sql(url, "SELECT value FROM watcher_meta WHERE name = 'registry_version'")
    wait_for(lambda: all(int(w.health()["subscribed_version"]) >= version for w in watchers),
             30, f"{who} to subscribe for registry version {version}")  # fmt: skip


def sql(url: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    import psycopg  # only once tests/pg.py found it (else the tests skip)

    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(query, args).fetchall()]


def ask(app: App, replies: Listener, n: int, what: str) -> list[str]:
    """Send n get_balance requests; wait until each has its reply; their ids."""
    ids = []
    for _ in range(n):
        event = app.request("get_balance")
        replies.publish(dict(event))
        ids.append(event["id"])
    wait_for(lambda: answered(replies) >= set(ids), 60, what)
    return ids


def answered(replies: Listener) -> set[str]:
    return {tag[1] for e in replies.events for tag in e["tags"] if tag[0] == "e"}


def assert_each_answered_once(app: App, replies: Listener, ids: list[str]) -> None:
    per_request = Counter(tag[1] for e in {e["id"]: e for e in replies.events}.values()
                          for tag in e["tags"] if tag[0] == "e")  # fmt: skip
    assert {i: per_request[i] for i in ids} == dict.fromkeys(ids, 1)
    for event in replies.events:
        assert app.read(event)["result"] == {"balance": 0}  # type: ignore[arg-type]


def register_wake_wallets(n: int, watchers: list[WatcherProcess], fn: WakeFunction,
                          relay: str) -> None:  # fmt: skip
    for i in range(n):
        fn.keys[str(i)] = reg = os.urandom(32)
        headers, body = registration.build(
            reg, now=int(time.time()), function_url=f"{fn.url}/w/{i}",
            relays=[relay], service_secrets=[os.urandom(32)],
        )  # fmt: skip
        res = httpx.put(watchers[i % len(watchers)].url + "/v1/wallets", content=body,
                        headers=headers, timeout=10)  # fmt: skip
        assert res.status_code == 200, res.text


def test_three_replicas_lose_one_mid_subscription_and_one_mid_delivery(
    tmp_path: Path, mint_url: str, database: str
) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    with InProcessRelay() as relay, served(wallet) as fn, contextlib.ExitStack() as stack:
        hop, wakes = Hop(fn), WakeFunction(xonly_pubkey(wallet.watcher_secret).hex())
        stack.callback(hop.close)
        stack.callback(wakes.close)
        app = App.from_uri(wallet.connection_uri("--relay", relay.url))
        wallet.remember_keys()
        watchers = stack.enter_context(replicas(3, tmp_path / "watchers",
                                                wallet.watcher_secret, database))  # fmt: skip
        by_id = {str(w.health()["replica"]): w for w in watchers}
        # the wallet's two replicas; it registers at the first, which also watches a wallet
        # registered there for a while whatever the split: killing that one leaves exactly one
        subscribed = owners(xonly_pubkey(wallet_keys(wallet.path)[0]).hex(), sorted(by_id), 2)
        register_wallet(wallet.path, by_id[subscribed[0]].url, hop.url, [relay.url])
        register_wake_wallets(6, watchers, wakes, relay.url)
        wait_subscribed(database, [by_id[r] for r in subscribed], "the wallet's two replicas")
        with Listener([relay.url], {"kinds": [23195], "#p": [app.pubkey]}) as replies:
            ids = ask(app, replies, 3, "the first answers")
            assert sum(metric(w, "nwc_watcher_events_total") for w in watchers) == 3

            by_id[subscribed[0]].kill()  # mid-subscription: now one replica watches the wallet
            ids += ask(app, replies, 3, "answers with one of the wallet's replicas dead")

            hop.opened.clear()  # mid-delivery: the function has the request, no answer yet
            held = app.request("get_balance")
            replies.publish(dict(held))
            wait_for(lambda: hop.seen[held["id"]] >= 1, 30, "the held delivery")
            holder = sql(database, "SELECT lease_owner FROM jobs WHERE id = %s", held["id"])
            assert holder and holder[0][0] in by_id, holder
            by_id[str(holder[0][0])].kill()
            hop.opened.set()
            wait_for(lambda: held["id"] in answered(replies), 60,
                     "the held request answered after its lease ran out")  # fmt: skip
            ids.append(held["id"])
            assert_each_answered_once(app, replies, ids)
        assert all(hop.seen[i] == 1 for i in ids[:-1]), hop.seen
        assert 1 <= hop.seen[held["id"]] <= 2  # at least once: again after the crash
        # every wake-only wallet: its info wake at registration, then the wake it asked for
        wait_for(lambda: len(wakes.wakes) == 6 and min(wakes.wakes.values()) >= 2
                 and not sql(database, "SELECT 1 FROM jobs WHERE kind = 'wake'"), 60,
                 "the requested wake-ups")  # fmt: skip
        assert dict(wakes.wakes) == {str(i): 2 for i in range(6)}


def test_a_database_restart_loses_nothing(tmp_path: Path, mint_url: str, database: str) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    server = pg.server()
    with InProcessRelay() as relay, served(wallet) as fn, contextlib.ExitStack() as stack:
        hop = Hop(fn)
        stack.callback(hop.close)
        app = App.from_uri(wallet.connection_uri("--relay", relay.url))
        wallet.remember_keys()
        watchers = stack.enter_context(replicas(2, tmp_path / "watchers",
                                                wallet.watcher_secret, database))  # fmt: skip
        register_wallet(wallet.path, watchers[0].url, hop.url, [relay.url])
        wait_subscribed(database, watchers, "both replicas")
        with Listener([relay.url], {"kinds": [23195], "#p": [app.pubkey]}) as replies:
            ids = ask(app, replies, 1, "the first answer")
            hop.opened.clear()
            in_flight = [app.request("get_balance") for _ in range(2)]
            for event in in_flight:
                replies.publish(dict(event))
            wait_for(lambda: all(hop.seen[e["id"]] for e in in_flight), 30, "two held deliveries")
            server.stop()
            try:
                late = app.request("get_balance")  # arrives while the database is down
                replies.publish(dict(late))
                wait_for(lambda: any(w.health()["held_requests"] for w in watchers), 30,
                         "the request held in memory")  # fmt: skip
                assert all(httpx.get(w.url + "/ready").status_code == 503 for w in watchers)
            finally:
                server.start()
            hop.opened.set()
            ids += [e["id"] for e in in_flight] + [late["id"]]
            wait_for(lambda: answered(replies) >= set(ids), 60, "every answer after the restart")
            wait_for(lambda: all(httpx.get(w.url + "/ready").status_code == 200
                                 for w in watchers), 30, "both replicas ready again")  # fmt: skip
            assert_each_answered_once(app, replies, ids)
        assert sql(database, "SELECT count(*) FROM seen_events WHERE event_id = %s",
                   late["id"]) == [(1,)]  # fmt: skip
