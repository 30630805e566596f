"""`python -m relay_watcher serve`: run the watcher (HTTP API + relays + delivery) until
SIGINT/SIGTERM. Its state is DATA_DIR/watcher.db (SQLite, one process) or a PostgreSQL
database (`--database-url`, or $NWC_WATCHER_DATABASE_URL: several replicas); its signing key
a hex file (0600), the same for every replica. Schema migrations run at start.
Operator commands (replicas, wallets list/suspend/resume/remove, dead-letters): operator.py."""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import sys
from pathlib import Path
from typing import Any

from relay_watcher.operator import add_commands, run, target


def _key(path: str) -> bytes:
    try:
        key = bytes.fromhex(Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"relay_watcher: cannot read the signing key {path}: {exc}") from None
    if len(key) != 32:
        raise SystemExit(f"relay_watcher: {path} must hold 32 bytes of hex")
    return key


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m relay_watcher", description=__doc__)
    sub = parser.add_subparsers(dest="watcher_command", required=True)
    add_serve(sub)
    add_commands(sub)
    return parser


def add_parser(top: Any) -> None:
    """`nwc-signer watcher serve|replicas|wallets|dead-letters ...` (the same commands as
    `python -m relay_watcher`), for nwc_signer/cli.py: `add_parser(top)`."""
    watcher = top.add_parser("watcher", help="run and operate a relay-watcher "
                             "(docs/operating.md)", description=__doc__)  # fmt: skip
    sub = watcher.add_subparsers(dest="watcher_command", required=True)
    add_serve(sub)
    add_commands(sub)
    watcher.set_defaults(func=run_args)


def add_serve(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the watcher")
    serve.add_argument("--data-dir", help="folder of watcher.db (SQLite, one process)")
    serve.add_argument(
        "--database-url",
        default=os.environ.get("NWC_WATCHER_DATABASE_URL"),
        help="postgresql://user:pass@host:port/db: shared by several replicas (default "
        "$NWC_WATCHER_DATABASE_URL; without it, --data-dir's SQLite file)",
    )
    serve.add_argument("--key-file", required=True, help="the watcher's signing key (hex)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8790)
    serve.add_argument("--lookback", type=int, default=300, help="seconds of history on subscribe")
    serve.add_argument("--info-interval", type=int, default=6 * 3600)
    serve.add_argument(
        "--per-wallet", type=int, default=2, help="deliveries in flight per wallet (all replicas)"
    )
    serve.add_argument("--concurrency", type=int, default=32, help="deliveries in flight here")
    serve.add_argument(
        "--lease", type=float, default=30.0,
        help="seconds a delivery stays leased after its replica's last heartbeat",
    )  # fmt: skip
    serve.add_argument(
        "--replica-ttl", type=float, default=15.0,
        help="seconds without a heartbeat before a replica's wallets are taken over",
    )  # fmt: skip
    serve.add_argument("--heartbeat", type=float, default=3.0, help="heartbeat interval (s)")
    serve.add_argument(
        "--replica-id",
        default=os.environ.get("NWC_WATCHER_REPLICA_ID"),
        help="stable name of this replica (e.g. the pod's): a restart takes its own leases "
        "back at once (default: random per start; $NWC_WATCHER_REPLICA_ID)",
    )
    serve.add_argument("--copies", type=int, default=2, help="replicas subscribed for each wallet")
    serve.add_argument(
        "--allow-private-function-urls",
        action="store_true",
        help="local/dev stacks only: accept and call function URLs on loopback, private, "
        "link-local and other non-public addresses (refused by default: SSRF)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    serve.add_argument(
        "--max-queued-per-wallet", type=int, default=100,
        help="per-tenant limit: requests beyond this many queued for one wallet are refused",
    )  # fmt: skip
    serve.add_argument(
        "--wallet-rate", type=float, default=120.0,
        help="NWC requests a minute per wallet (token bucket per replica; 0: no limit); "
             "over it requests are deferred, then dropped",
    )  # fmt: skip
    serve.add_argument(
        "--wallet-burst",
        type=float,
        default=30.0,
        help="requests a wallet may send at once before --wallet-rate applies",
    )
    serve.add_argument(
        "--wallet-max-defer", type=float, default=30.0,
        help="seconds a request over its wallet's rate may wait; later ones are dropped",
    )  # fmt: skip
    serve.add_argument("--registrations-per-min", type=float, default=6.0,
                       help="registrations a minute per wallet (429 beyond)")  # fmt: skip
    serve.add_argument(
        "--registrations-per-min-per-client",
        type=float,
        default=60.0,
        help="registration requests a minute per client address (429 beyond)",
    )
    serve.add_argument(
        "--challenge-timeout", type=float, default=8.0,
        help="seconds a function has to answer the registration challenge",
    )  # fmt: skip
    serve.add_argument(
        "--no-registration-challenge", action="store_true",
        help="tests and benchmarks with stand-in functions only: register function URLs "
             "without the challenge that proves they are the wallet's",
    )  # fmt: skip
    serve.add_argument(
        "--tenant-metrics-top",
        type=int,
        default=50,
        help="wallets named in per-tenant metrics; the others are 'other'",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.watcher_command == "serve":
        logging.basicConfig(
            level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        # httpx logs every request at INFO: a line per delivery (and its CPU) is not wanted
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return run_args(args)


def run_args(args: argparse.Namespace) -> int:
    """Run a parsed command (serve, or an operator command)."""
    if args.watcher_command != "serve":
        return run(args)
    import uvicorn

    from relay_watcher.api import create_app
    from relay_watcher.delivery import DeliveryConfig
    from relay_watcher.service import Watcher, WatcherConfig

    config = WatcherConfig(
        db_path=target(args),
        lookback_s=args.lookback,
        info_interval_s=args.info_interval,
        delivery=DeliveryConfig(
            per_wallet=args.per_wallet, concurrency=args.concurrency, lease_s=args.lease
        ),
        allow_private_function_urls=args.allow_private_function_urls,
        replica_ttl_s=args.replica_ttl,
        heartbeat_s=args.heartbeat,
        subscription_copies=args.copies,
        max_queued_per_wallet=args.max_queued_per_wallet,
        address=f"{args.host}:{args.port}",
        replica_id=args.replica_id,
        wallet_rate_per_min=args.wallet_rate,
        wallet_burst=args.wallet_burst,
        wallet_max_defer_s=args.wallet_max_defer,
        registrations_per_min=args.registrations_per_min,
        registrations_per_min_per_client=args.registrations_per_min_per_client,
        challenge_function_urls=not args.no_registration_challenge,
        challenge_timeout_s=args.challenge_timeout,
        tenant_metrics_top=args.tenant_metrics_top,
    )
    watcher = Watcher(config, _key(args.key_file))
    # profiling (scripts/bench_watcher_scale.py): the event loop's thread, written at exit
    # (at the watcher's stop: uvicorn re-raises SIGTERM after shutdown, so no finally runs)
    profile_dir = os.environ.get("NWC_WATCHER_PROFILE")
    if profile_dir:
        profiler = cProfile.Profile()
        path = os.path.join(profile_dir, f"replica-{os.getpid()}.prof")

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(path)

        watcher.after_stop.append(dump)
        profiler.enable()
    sample_dir = os.environ.get("NWC_WATCHER_SAMPLE")  # cheaper and fairer: sampling.py
    if sample_dir:
        from relay_watcher.sampling import Sampler

        sampler = Sampler(sample_dir)
        watcher.after_stop.append(sampler.stop)
        sampler.start()
    uvicorn.run(
        create_app(watcher),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
