"""One entry point for the reliability proofs (docs/reliability.md):

    python -m scripts.reliability fuzz         --seed 1 --count 100000 --nip47 20000 --http 2000
    python -m scripts.reliability exactly-once --seed 1 --deliveries 1000 --payments 200
    python -m scripts.reliability crash-points --seed 1 --rounds 10

Each starts its own nutshell test mint unless --mint-url is given, prints its figures
(and one JSON line of them), and exits 1 when a figure is not met.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.reliability")
    sub = parser.add_subparsers(dest="cmd", required=True)
    fuzz = sub.add_parser("fuzz", help="generated webhook and NIP-47 input")
    fuzz.add_argument("--count", type=int, default=100_000, help="webhook inputs")
    fuzz.add_argument("--nip47", type=int, default=20_000, help="authorised NIP-47 payloads")
    fuzz.add_argument("--http", type=int, default=2_000, help="of those, sent over HTTP")
    fuzz.add_argument("--fund", type=int, default=1000, help="sats in the fuzzed wallet")
    once = sub.add_parser("exactly-once", help="one payment delivered many times; a budget")
    once.add_argument("--deliveries", type=int, default=1000)
    once.add_argument("--payments", type=int, default=200, help="concurrent distinct payments")
    once.add_argument("--threads", type=int, default=16)
    crash = sub.add_parser("crash-points", help="SIGKILL at every persistence point")
    crash.add_argument("--rounds", type=int, default=10, help="passes over every kill point")
    for p in (fuzz, once, crash):
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--mint-url", default=None, help="use this mint instead of starting one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the figures are the output
    if args.cmd == "fuzz":
        from scripts.reliability import fuzz as module
    elif args.cmd == "exactly-once":
        from scripts.reliability import exactly_once as module  # type: ignore[no-redef]
    else:
        from scripts.reliability import crash_points as module  # type: ignore[no-redef]
    return int(module.main(args))


if __name__ == "__main__":
    sys.exit(main())
