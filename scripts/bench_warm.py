#!/usr/bin/env python3
"""Warm in-process request cost: the CPU time of one `get_balance` delivery handled by an
already-imported local function (what a warm Lambda, Worker or Deno instance spends of its
own), per crypto backend. No mint traffic: the wallet has nothing pending. Usage:

    .venv/bin/python scripts/bench_warm.py [--runs 30] [--crypto native pure]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(runs: int) -> float:
    """Median CPU ms of a warm get_balance (the first five runs warm up and are dropped)."""
    from nwc_signer.dev.harness import LocalWallet
    from signer_core.protocol.webhook import request_delivery, signed_delivery

    with tempfile.TemporaryDirectory() as tmp:
        wallet = LocalWallet.create(Path(tmp) / "w", "http://127.0.0.1:1")
        app = wallet.add_app(name="bench")
        function = wallet.function()
        times = []
        for _ in range(runs + 5):
            delivery = request_delivery(app.request("get_balance"))
            headers, body = signed_delivery(delivery, wallet.watcher_secret, int(time.time()))
            started = time.process_time()
            response = function.handle(headers, body)
            times.append(time.process_time() - started)
            assert response.status == 200, response.message
        return statistics.median(times[5:]) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--crypto", nargs="+", default=["native", "pure"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(f"{measure(args.runs):.2f}")
        return 0
    print(f"warm get_balance, CPU per request (median of {args.runs}):")
    for backend in args.crypto:  # one interpreter per backend: NWC_CRYPTO is read once
        env = {**os.environ, "NWC_CRYPTO": backend}
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--runs", str(args.runs)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        print(f"  {backend:6} {out.stdout.strip().splitlines()[-1]} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
