"""Operator commands against a watcher's database (any replica's, or none running):

    python -m relay_watcher replicas --database-url URL
    python -m relay_watcher wallets list [--wallet HEX] [--limit N]
    python -m relay_watcher wallets suspend HEX --reason TEXT
    python -m relay_watcher wallets resume HEX
    python -m relay_watcher wallets remove HEX [--suspend]
    python -m relay_watcher dead-letters [--limit N]

Changes reach running replicas through the registry version they poll (within a second).
Output is JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _wallet(text: str) -> str:
    if not _HEX64.fullmatch(text):
        raise argparse.ArgumentTypeError("a wallet is its 64-hex registration pubkey")
    return text


def database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("NWC_WATCHER_DATABASE_URL"),
        help="postgresql://... (default $NWC_WATCHER_DATABASE_URL)",
    )
    parser.add_argument("--data-dir", help="folder of watcher.db (SQLite)")


def target(args: argparse.Namespace) -> Path | str:
    if args.database_url:
        return str(args.database_url)
    if args.data_dir:
        return Path(args.data_dir) / "watcher.db"
    raise SystemExit("relay_watcher: give --database-url (PostgreSQL) or --data-dir (SQLite)")


def add_commands(sub: Any) -> None:
    """The operator subcommands, on `python -m relay_watcher`'s parser."""
    replicas = sub.add_parser("replicas", help="list the replicas of a database")
    database_args(replicas)
    replicas.add_argument("--ttl", type=float, default=15.0, help="as the replicas' --replica-ttl")
    wallets = sub.add_parser("wallets", help="list, suspend, resume or remove wallets")
    database_args(wallets)
    action = wallets.add_subparsers(dest="action", required=True)
    listing = action.add_parser("list", help="wallets with their keys, queue and counts")
    listing.add_argument("--wallet", type=_wallet)
    listing.add_argument("--limit", type=int, default=1000)
    suspend = action.add_parser("suspend", help="stop serving a wallet (dead-letters its queue)")
    suspend.add_argument("wallet", type=_wallet)
    suspend.add_argument("--reason", required=True)
    resume = action.add_parser("resume", help="serve a suspended wallet again")
    resume.add_argument("wallet", type=_wallet)
    remove = action.add_parser("remove", help="forget a wallet (it may register again)")
    remove.add_argument("wallet", type=_wallet)
    remove.add_argument("--suspend", action="store_true", help="and refuse it from now on")
    dead = sub.add_parser("dead-letters", help="deliveries given up, newest last")
    database_args(dead)
    dead.add_argument("--limit", type=int, default=100)


def run(args: argparse.Namespace) -> int:
    from relay_watcher.db import WatcherDB

    db = WatcherDB(target(args))
    now = int(time.time())
    try:
        out: Any
        if args.watcher_command == "replicas":
            out = db.replicas.listing(time.time(), args.ttl)
        elif args.watcher_command == "dead-letters":
            out = db.queue.dead_letters()[-args.limit :]
        elif args.action == "list":
            out = db.tenants.listing(args.limit, args.wallet)
        elif args.action == "suspend":
            out = {"suspended": args.wallet,
                   "dead_lettered": db.tenants.suspend(args.wallet, args.reason, now)}  # fmt: skip
        elif args.action == "resume":
            out = {"resumed": db.tenants.resume(args.wallet)}
        else:
            if args.suspend:
                db.tenants.suspend(args.wallet, "removed by the operator", now)
            out = {"removed": db.tenants.remove(args.wallet), "suspended": args.suspend}
    finally:
        db.close()
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
