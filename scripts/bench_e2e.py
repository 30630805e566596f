"""Round trip app -> relay -> watcher -> function -> relay -> app, get_balance, warm and cold;
and the watcher's memory with 100,000 registered wallets.

    .venv/bin/python scripts/bench_e2e.py [--n 200] [--wallets 100000] [--relay nostr-relay]

Two apps per mode: nostr-sdk's NostrWalletConnect (one websocket for request and reply, as NWC
apps do), and a split app (one connection sends, another listens) that isolates what the
system adds from a relay artefact (docs/benchmarks.md). Starts its own mint, relay, watcher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nostr_sdk as ns  # noqa: E402

from nwc_signer.dev.harness import LocalWallet  # noqa: E402
from nwc_signer.dev.mint import DevMint  # noqa: E402
from nwc_signer.dev.nwc_app import NwcApp  # noqa: E402
from nwc_signer.dev.ready import wait_until_serving  # noqa: E402
from nwc_signer.dev.relay import InProcessRelay, NostrRelayProcess  # noqa: E402
from nwc_signer.dev.runtimes import local_runtime  # noqa: E402
from nwc_signer.dev.watcher import WatcherProcess, register_wallet  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def report(label: str, ms: list[float], wall: float) -> None:
    print(f"{label:<34} n={len(ms)} p50={statistics.median(ms):6.1f} ms "
          f"p95={pct(ms, 0.95):6.1f} ms  {len(ms) / wall:5.1f} req/s", flush=True)  # fmt: skip


async def nwc_app(uri: str, n: int) -> tuple[list[float], float]:
    nwc = ns.NostrWalletConnect(ns.NostrWalletConnectUri.parse(uri))
    await nwc.get_balance()  # connect
    out, start = [], time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        await asyncio.wait_for(nwc.get_balance(), 30)
        out.append((time.perf_counter() - t) * 1000)
    return out, time.perf_counter() - start


async def split_app(uri: str, relay: str, n: int) -> tuple[list[float], float]:
    app = NwcApp.from_uri(uri)
    sender, listener = ns.ClientBuilder().build(), ns.ClientBuilder().build()
    for client in (sender, listener):
        await client.add_relay(ns.RelayUrl.parse(relay))
        await client.connect(timedelta(seconds=5))
    flt = {"kinds": [23195], "#p": [app.pubkey], "since": int(time.time()) - 5}
    await listener.subscribe(ns.ReqTarget.auto([ns.Filter.from_json(json.dumps(flt))]))
    stream = listener.notifications()
    out, start = [], time.perf_counter()
    for _ in range(n + 1):
        event = app.request("get_balance")
        t = time.perf_counter()
        await sender.send_event(ns.Event.from_json(json.dumps(event)))
        while True:
            item = await asyncio.wait_for(stream.next(), 30)
            reply = json.loads(item.event.as_json()) if item.is_new_event() else None
            if reply and reply["tags"][1][1] == event["id"]:
                break
        out.append((time.perf_counter() - t) * 1000)
    return out[1:], time.perf_counter() - start


def rss_with_wallets(count: int, folder: Path) -> float:
    """Peak RSS (MB) of a watcher process holding `count` registered wallets."""
    from relay_watcher.db import WatcherDB

    db = WatcherDB(folder / "watcher.db")
    with db.tx() as c:
        now = int(time.time())
        c.executemany(
            "INSERT INTO wallets VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [
                (
                    f"{i:064x}",
                    f"http://127.0.0.1:9/{i}",
                    '["ws://127.0.0.1:9"]',
                    now,
                    now,
                    now + 86400,
                )
                for i in range(count)
            ],  # fmt: skip
        )
        c.executemany(
            "INSERT INTO service_keys VALUES (?, ?)",
            [(os.urandom(32).hex(), f"{i:064x}") for i in range(count)],
        )
    db.close()
    key = folder / "k"
    key.write_text(os.urandom(32).hex())
    with WatcherProcess(folder, key) as w:
        time.sleep(3)
        status = Path(f"/proc/{w.child.pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="requests per app and mode")
    parser.add_argument(
        "--wallets",
        type=int,
        default=100_000,
        help="wallets for the memory figure, 0 skips it (default: %(default)s)",
    )
    parser.add_argument(
        "--relay",
        choices=["local", "nostr-relay"],
        default="local",
        help="nostr-sdk's in-process LocalRelay, or PyPI nostr-relay as a separate process",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nwc-bench-e2e-"))
    relay_cm = InProcessRelay() if args.relay == "local" else NostrRelayProcess()
    print(f"relay: {args.relay}", flush=True)
    with DevMint() as mint, relay_cm as relay:
        wallet = LocalWallet.create(tmp / "w", mint.url)
        uri = wallet.connection_uri("--relay", relay.url)
        key = tmp / "w" / "secrets" / "watcher.key"
        for cold in (False, True):
            n = args.n
            with local_runtime(wallet.path, 0, cold) as url, \
                 WatcherProcess(tmp / f"watcher-{cold}", key) as watcher:  # fmt: skip
                register_wallet(wallet.path, watcher.url, url, [relay.url])
                wait_until_serving(uri, timeout=60)  # the watcher listens: measure from here
                mode = "cold" if cold else "warm"
                ms, wall = asyncio.run(split_app(uri, relay.url, n))
                report(f"{mode} get_balance, split app", ms, wall)
                ms, wall = asyncio.run(nwc_app(uri, n))
                report(f"{mode} get_balance, NostrWalletConnect", ms, wall)
    if args.wallets:
        folder = tmp / "many"
        folder.mkdir()
        print(f"watcher with {args.wallets} wallets: peak RSS "
              f"{rss_with_wallets(args.wallets, folder):.0f} MB", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
