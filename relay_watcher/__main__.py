"""`python -m relay_watcher serve`: run the watcher (HTTP API + relays + delivery) until
SIGINT/SIGTERM. Its state is DATA_DIR/watcher.db; its signing key a hex file (0600)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


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
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the watcher")
    serve.add_argument("--data-dir", required=True, help="folder of watcher.db")
    serve.add_argument("--key-file", required=True, help="the watcher's signing key (hex)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8790)
    serve.add_argument("--lookback", type=int, default=300, help="seconds of history on subscribe")
    serve.add_argument("--info-interval", type=int, default=6 * 3600)
    serve.add_argument("--per-wallet", type=int, default=2, help="deliveries in flight per wallet")
    serve.add_argument(
        "--allow-private-function-urls",
        action="store_true",
        help="local/dev stacks only: accept and call function URLs on loopback, private, "
        "link-local and other non-public addresses (refused by default: SSRF)",
    )
    serve.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    import uvicorn

    from relay_watcher.api import create_app
    from relay_watcher.delivery import DeliveryConfig
    from relay_watcher.service import Watcher, WatcherConfig

    config = WatcherConfig(
        db_path=Path(args.data_dir) / "watcher.db",
        lookback_s=args.lookback,
        info_interval_s=args.info_interval,
        delivery=DeliveryConfig(per_wallet=args.per_wallet),
        allow_private_function_urls=args.allow_private_function_urls,
    )
    watcher = Watcher(config, _key(args.key_file))
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
