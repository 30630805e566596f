"""The hosted watcher at scale (issue #13): replicas on one PostgreSQL database.

    .venv/bin/python scripts/bench_watcher_scale.py memory --wallets 1000000 --replicas 1,3
    .venv/bin/python scripts/bench_watcher_scale.py throughput --requests 3000 --replicas 3
    .venv/bin/python scripts/bench_watcher_scale.py failover
    .venv/bin/python scripts/bench_watcher_scale.py queue     # claim throughput of the SQL queue
    .venv/bin/python scripts/bench_watcher_scale.py view --wallets 200000  # bytes per key, by line

Everything runs on this machine: a PostgreSQL 15 server in a temp folder (tests/pg.py),
nostr-sdk's LocalRelay, `python -m relay_watcher serve --database-url` replicas, and a fast
loopback function (uvicorn, answers 200 at once, logs arrival times). Figures go to
docs/benchmarks.md with the command and date. Not a test: nothing here is timed in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import nostr_sdk as ns  # noqa: E402
import psycopg  # noqa: E402

from nwc_signer.dev.process import free_port  # noqa: E402
from nwc_signer.dev.relay import InProcessRelay  # noqa: E402
from nwc_signer.dev.watcher import WatcherProcess  # noqa: E402
from relay_watcher.db import WatcherDB  # noqa: E402
from relay_watcher.replicas import owners  # noqa: E402
from signer_core.crypto.secp import xonly_pubkey  # noqa: E402
from signer_core.protocol.events import sign_event  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402

FUNCTION = """
import sys, time
log = open(sys.argv[2], "a", buffering=1)
hold = set(sys.argv[3].split(",")) if len(sys.argv) > 3 and sys.argv[3] else set()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    at = time.time()
    import json
    event = (json.loads(body) if body else {}).get("event") or {}
    log.write(f"{event.get('id', 'wake')} {scope['path']} {at}\\n")
    if scope["path"].strip("/") in hold:
        import asyncio
        await asyncio.sleep(3600)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"events": []}'})
import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def thread_cpu(pid: int) -> dict[str, float]:
    """A replica's CPU seconds by thread: the event loop (the main thread) and the others
    (the database thread, nostr-sdk's relay threads, the LISTEN thread, registry scans)."""
    out = {"loop": 0.0, "other threads": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            out["loop" if int(task.name) == pid else "other threads"] += cpu
    return out


def cpu_groups(server: PostgresServer, reps: list[WatcherProcess], fn_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part: replicas, PostgreSQL (postmaster and backends), the
    function, and this process (the relay and the publishing app)."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    out = {f"replica {i}": _cpu_s(w.child.pid or 0) for i, w in enumerate(reps)}
    for i, w in enumerate(reps):
        with contextlib.suppress(OSError):
            for group, cpu in thread_cpu(w.child.pid or 0).items():
                out[f"  r{i} {group}"] = cpu
    out["postgresql"] = sum(_cpu_s(p) for p in _descendants(postmaster))
    out["function"] = _cpu_s(fn_pid)
    times = os.times()
    out["relay + app (bench)"] = times.user + times.system
    return out


FUNCTION_PID: list[int] = []


@contextlib.contextmanager
def fast_function(folder: Path, hold: str = "") -> Iterator[tuple[str, Path]]:
    port, log = free_port(), folder / "arrivals.log"
    log.write_text("")
    script = folder / "function.py"
    script.write_text(FUNCTION)
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(log), hold])  # noqa: S603
    FUNCTION_PID[:] = [proc.pid]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # a held request keeps uvicorn from exiting
            proc.kill()
            proc.wait(10)


def arrivals(log: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in log.read_text().splitlines():
        event_id, _path, at = line.split()
        out.setdefault(event_id, float(at))
    return out


def load_wallets(url: str, count: int, function_url: str, relay: str) -> list[tuple[str, bytes]]:
    """`count` wallets straight into the tables (COPY); each has one service key. Returns
    (wallet pubkey, service secret) of the first 1,000 (the benchmark's apps)."""
    WatcherDB(url).close()  # migrations
    later = int(time.time()) + 86400  # no info-refresh storm during the run
    relays = json.dumps([relay])
    kept: list[tuple[str, bytes]] = []
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY wallets (wallet_pubkey, function_url, relays, registered_at,"
                      " last_registration, wake_at, info_at) FROM STDIN") as copy:  # fmt: skip
            for i in range(count):
                copy.write_row((f"{i:064x}", f"{function_url}/{i}", relays, 0, 0, None, later))
        with cur.copy("COPY service_keys (service_pubkey, wallet_pubkey) FROM STDIN") as copy:
            for i in range(count):
                if i < 1000:
                    secret = os.urandom(32)
                    kept.append((f"{i:064x}", secret))
                    pub = xonly_pubkey(secret).hex()
                else:
                    pub = os.urandom(32).hex()
                copy.write_row((pub, f"{i:064x}"))
        cur.execute("UPDATE watcher_meta SET value = value + 1 WHERE name = 'registry_version'")
    return kept


def key_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "watcher.key"
    path.write_text(os.urandom(32).hex())
    path.chmod(0o600)
    return path


def start_replicas(n: int, folder: Path, url: str, *flags: str) -> list[WatcherProcess]:
    key = key_file(folder)
    out: list[WatcherProcess] = []
    try:
        for i in range(n):
            w = WatcherProcess(folder / f"r{i}", key, 0, *flags, database_url=url)
            w.child.start_timeout = 900
            out.append(w.start())
        wait(lambda: all(w.health()["replicas_live"] == n for w in out), 120, "replicas")
    except BaseException:  # leave no replica behind
        for w in out:
            w.stop()
        raise
    return out


def wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def rss_mb(w: WatcherProcess) -> tuple[float, float]:
    status = Path(f"/proc/{w.child.pid}/status").read_text().splitlines()
    field = {x.split(":")[0]: int(x.split()[1]) for x in status if x.startswith("Vm")}
    return field["VmRSS"] / 1024, field["VmHWM"] / 1024


# -- memory --------------------------------------------------------------------------------


def memory(server: PostgresServer, folder: Path, wallets: int, replica_counts: list[int]) -> None:
    url = server.create_database(f"mem_{wallets}")
    with InProcessRelay() as relay:
        t = time.perf_counter()
        load_wallets(url, wallets, "http://127.0.0.1:9", relay.url)
        print(f"loaded {wallets:,} wallets into PostgreSQL in {time.perf_counter() - t:.1f} s",
              flush=True)  # fmt: skip
        for n in replica_counts:
            t = time.perf_counter()
            reps = start_replicas(n, folder / f"mem{n}", url, "--copies", "2")
            expect = wallets if n <= 2 else None
            try:
                wait(lambda r=reps, n=n, e=expect: _loaded(r, n, wallets, e), 900,
                     "every replica to load its share")  # fmt: skip
                took = time.perf_counter() - t
                time.sleep(2)  # let the subscription plan settle before reading the peak
                for i, w in enumerate(reps):
                    rss, hwm = rss_mb(w)
                    keys = int(w.health()["service_keys"])
                    print(f"{n} replica(s), #{i}: {keys:,} keys watched, RSS {rss:.0f} MB, "
                          f"peak {hwm:.0f} MB ({hwm * 1024 * 1024 / max(keys, 1):.0f} B/key)",
                          flush=True)  # fmt: skip
                print(f"{n} replica(s): all loaded {took:.1f} s after start", flush=True)
            finally:
                for w in reps:
                    w.stop()


def _loaded(reps: list[WatcherProcess], n: int, wallets: int, expect: int | None) -> bool:
    """Every replica holds its share: all keys (n <= copies), else about copies/n of them
    (a replica that started alone holds everything until it has re-planned)."""
    keys = [int(w.health()["service_keys"]) for w in reps]
    if expect is not None:
        return min(keys) == expect
    share = wallets * 2 / n
    return all(0.95 * share <= k <= 1.05 * share for k in keys)


# -- throughput and latency ------------------------------------------------------------------


async def publish(relay: str, events: list[dict[str, object]], rate: float | None) -> list[float]:
    client = ns.ClientBuilder().build()
    await client.add_relay(ns.RelayUrl.parse(relay))
    await client.connect(timedelta(seconds=5))
    sent: list[float] = []
    start = time.perf_counter()
    try:
        if rate is None:  # a burst: 200 sends in flight at a time (each waits for its OK)
            for i in range(0, len(events), 200):
                chunk = events[i : i + 200]
                sent += [time.time()] * len(chunk)
                await asyncio.gather(*(client.send_event(ns.Event.from_json(json.dumps(e)))
                                       for e in chunk))  # fmt: skip
            return sent
        for i, event in enumerate(events):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(time.time())
            await client.send_event(ns.Event.from_json(json.dumps(event)))
    finally:
        await client.shutdown()
    return sent


def requests_for(apps: list[tuple[str, bytes]], count: int) -> list[dict[str, object]]:
    out = []
    for i in range(count):
        _wallet, service = apps[i % len(apps)]
        out.append(dict(sign_event(os.urandom(32), 23194, f"bench {i}",
                                   [["p", xonly_pubkey(service).hex()]])))  # fmt: skip
    return out


def throughput(server: PostgresServer, folder: Path, replicas: int, count: int, wallets: int,
               rate: float) -> None:  # fmt: skip
    url = server.create_database(f"tp_{replicas}")
    with InProcessRelay() as relay, fast_function(folder) as (fn, log):
        apps = load_wallets(url, wallets, fn, relay.url)[:wallets]
        # raw throughput: no per-wallet request rate (15+ requests per wallet in a burst)
        reps = start_replicas(replicas, folder / f"tp{replicas}", url, "--per-wallet", "2",
                              "--wallet-rate", "0")  # fmt: skip
        try:
            wait(lambda: all(int(w.health()["service_keys"]) > 0 for w in reps), 120, "keys")
            time.sleep(2)  # subscriptions sent
            for label, pace in (("burst", None), (f"paced {rate:.0f}/s", rate)):
                log.write_text("")
                events = requests_for(apps, count)
                cpu_before = cpu_groups(server, reps, FUNCTION_PID[0])
                sent = asyncio.run(publish(relay.url, events, pace))
                ids = [str(e["id"]) for e in events]
                wait(lambda: len(arrivals(log)) >= count, 600, "every delivery")  # noqa: B023
                got = arrivals(log)
                time.sleep(0.5)  # replies published, jobs finished
                cpu_after = cpu_groups(server, reps, FUNCTION_PID[0])
                per = {k: (cpu_after[k] - v) * 1e6 / count for k, v in cpu_before.items()}
                whole = {k: v for k, v in per.items() if not k.startswith(" ")}
                parts = ", ".join(f"{k} {v:.0f} µs" for k, v in whole.items())
                print(f"  CPU per delivery: {parts}; total {sum(whole.values()):.0f} µs",
                      flush=True)  # fmt: skip
                print("  replica threads: " + ", ".join(f"{k.strip()} {v:.0f} µs"
                      for k, v in per.items() if k.startswith(" ")), flush=True)  # fmt: skip
                lat = sorted((got[i] - s) * 1000 for i, s in zip(ids, sent, strict=True))
                span = max(got.values()) - sent[0]
                if pace is None:
                    print(f"  published in {sent[-1] - sent[0]:.2f} s", flush=True)
                p99 = lat[int(len(lat) * 0.99) - 1]
                print(f"{replicas} replicas, {label}: {count} requests over {wallets} wallets in "
                      f"{span:.2f} s = {count / span:.0f}/s; added latency p50 "
                      f"{statistics.median(lat):.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms",
                      flush=True)  # fmt: skip
                dup = sum(1 for line in log.read_text().splitlines()) - count
                print(f"  deliveries beyond one per request: {dup}", flush=True)
        finally:
            for w in reps:
                w.stop()


# -- failover --------------------------------------------------------------------------------


def failover(server: PostgresServer, folder: Path, flags: list[str]) -> None:
    """Kill the replica watching a wallet (copies 1 and 2), and one holding a delivery."""
    for copies in (1, 2):
        url = server.create_database(f"fo_{copies}")
        with InProcessRelay() as relay, fast_function(folder, hold="999") as (fn, log):
            apps = load_wallets(url, 1000, fn, relay.url)
            reps = start_replicas(3, folder / f"fo{copies}", url, *flags, "--copies", str(copies))
            try:
                ids = {str(w.health()["replica"]): w for w in reps}
                wallet, _ = apps[0]
                victim = owners(wallet, sorted(ids), copies)[0]
                wait(lambda r=reps: all(int(w.health()["service_keys"]) > 0 for w in r), 120,
                     "keys")  # fmt: skip
                time.sleep(2)
                ids[victim].kill()
                killed = time.time()
                first = None
                for _ in range(600):  # a request every 100 ms until one is delivered
                    event = requests_for([apps[0]], 1)[0]
                    asyncio.run(publish(relay.url, [event], None))
                    time.sleep(0.1)
                    if str(event["id"]) in arrivals(log):
                        first = time.time() - killed
                        break
                gap = (
                    "no gap"
                    if copies > 1
                    else "requests sent in between are lost on a relay"
                    " that keeps no ephemeral events"
                )
                print(f"copies {copies}: the first request delivered {first:.2f} s after the "
                      f"wallet's replica was killed ({gap})", flush=True)  # fmt: skip
                if copies == 2:
                    # a delivery in flight at a replica that dies: function 999 never answers
                    held_wallet, service = apps[999]
                    event = requests_for([(held_wallet, service)], 1)[0]
                    asyncio.run(publish(relay.url, [event], None))
                    wait(lambda: str(event["id"]) in arrivals(log), 30, "the held delivery")  # noqa: B023
                    with psycopg.connect(url) as conn:
                        row = conn.execute("SELECT lease_owner FROM jobs WHERE id = %s",
                                           (event["id"],)).fetchone()  # fmt: skip
                    assert row is not None
                    holder = ids[str(row[0])]
                    holder.kill()
                    killed = time.time()
                    wait(lambda: sum(1 for x in log.read_text().splitlines()
                                     if x.startswith(str(event["id"]))) >= 2, 300,  # noqa: B023
                         "the redelivery")  # fmt: skip
                    took = time.time() - killed
                    print(f"delivery in flight at a killed replica: delivered again {took:.2f} s"
                          " later (its lease ran out)", flush=True)  # fmt: skip
            finally:
                for w in reps:
                    w.stop()


# -- the queue alone -------------------------------------------------------------------------


def queue(server: PostgresServer, jobs: int) -> None:
    """Accept + claim + finish through the SQL queue from 3 connections (no HTTP)."""
    import threading

    url = server.create_database("queue")
    handles = [WatcherDB(url) for _ in range(3)]
    db = handles[0]
    db.registry.register("ab" * 32, "http://x/", ["ws://x"], [], 0, "s", 0)
    wallets = [f"{i:064x}" for i in range(200)]
    with db.tx() as c:
        c.executemany("INSERT INTO wallets VALUES (?, 'http://x/', '[]', 0, 0, NULL, ?)",
                      [(w, 2**40) for w in wallets])  # fmt: skip
    t = time.perf_counter()
    for i in range(jobs):
        db.queue.accept_event({"id": f"{i:064x}"}, wallets[i % 200], ["ws://x"], 0)
    accept = jobs / (time.perf_counter() - t)
    done = [0]

    def worker(h: WatcherDB, name: str) -> None:
        while True:
            got = h.queue.claim(name, time.time(), 32, 2, 30)
            if not got:
                return
            for job in got:
                h.queue.finish(job.id)
            done[0] += len(got)

    t = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(h, f"r{i}")) for i, h in enumerate(handles)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(f"SQL queue on PostgreSQL: accept (de-dup + enqueue) {accept:.0f}/s from one "
          f"connection; claim + finish {done[0] / (time.perf_counter() - t):.0f} jobs/s "
          f"from 3 connections (200 wallets, 2 per wallet)", flush=True)  # fmt: skip


# -- where a view's bytes go ------------------------------------------------------------------


def view_bytes(folder: Path, wallets: int) -> None:
    """tracemalloc of one registry scan in this process (SQLite, one key per wallet): the
    Python side of a replica's memory per key, grouped by the line that allocated it."""
    import sqlite3
    import tracemalloc

    from relay_watcher.watching import scan

    path = folder / "view.db"
    WatcherDB(path).close()
    relays = json.dumps(["ws://127.0.0.1:9"])
    rows = ((f"{i:064x}", f"http://x/{i}", relays) for i in range(wallets))
    keys = ((os.urandom(32).hex(), f"{i:064x}") for i in range(wallets))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO wallets (wallet_pubkey, function_url, relays,"
                         " registered_at, last_registration, wake_at, info_at)"
                         " VALUES (?, ?, ?, 0, 0, NULL, 0)", rows)  # fmt: skip
        conn.executemany("INSERT INTO service_keys (service_pubkey, wallet_pubkey)"
                         " VALUES (?, ?)", keys)  # fmt: skip
    db = WatcherDB(path)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    t = time.perf_counter()
    view = scan(db.registry, lambda _w: True)
    took = time.perf_counter() - t
    held, peak = tracemalloc.get_traced_memory()
    after = tracemalloc.take_snapshot()
    print(f"scan of {len(view.keys):,} keys: {took:.1f} s, {held / wallets:.0f} B a key held, "
          f"{peak / wallets:.0f} B a key at the peak; by line:", flush=True)  # fmt: skip
    for stat in after.compare_to(before, "lineno")[:6]:
        if stat.size_diff > wallets:
            print(f"  {stat.size_diff / wallets:5.0f} B/key  {stat.traceback}", flush=True)
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--wallets", type=int, default=1_000_000)
    m.add_argument("--replicas", default="1,3")
    t = sub.add_parser("throughput")
    t.add_argument("--replicas", type=int, default=3)
    t.add_argument("--requests", type=int, default=3000)
    t.add_argument("--wallets", type=int, default=200)
    t.add_argument("--rate", type=float, default=200)
    f = sub.add_parser("failover")
    f.add_argument("--flags", default="", help="extra serve flags, e.g. '--replica-ttl 5'")
    q = sub.add_parser("queue")
    q.add_argument("--jobs", type=int, default=5000)
    v = sub.add_parser("view")
    v.add_argument("--wallets", type=int, default=200_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-watcher-"))
    if args.what == "view":
        view_bytes(folder, args.wallets)
        return 0
    server = PostgresServer().start()
    print(f"{time.strftime('%Y-%m-%d')} {os.cpu_count()} CPUs, PostgreSQL 15 (fsync off, "
          f"loopback), python {sys.version.split()[0]}", flush=True)  # fmt: skip
    try:
        if args.what == "memory":
            memory(server, folder, args.wallets, [int(x) for x in args.replicas.split(",")])
        elif args.what == "throughput":
            throughput(server, folder, args.replicas, args.requests, args.wallets, args.rate)
        elif args.what == "failover":
            failover(server, folder, args.flags.split())
        else:
            queue(server, args.jobs)
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
