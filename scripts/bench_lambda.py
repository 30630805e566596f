#!/usr/bin/env python3
"""Cold Lambda-handler benchmark: a fresh interpreter per request against moto_server.

Each run spawns `python -c CHILD`, which imports functions.aws_lambda.handler, builds its
clients, reads the root secret, and handles ONE signed get_balance webhook as a Function
URL event (idempotency record, S3 read, guard read). Time = spawn to exit; peak RSS from
wait4(). Then prints the cost at AWS's published arm64 Lambda prices. Usage:

    .venv/bin/python scripts/bench_lambda.py [--runs 20] [--memory-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# AWS Lambda pricing, arm64, us-east-1, as published on aws.amazon.com/lambda/pricing
# (checked 2026-11-21): first 6 B GB-s/month tier; free tier 400,000 GB-s + 1 M requests/month.
PRICE_GB_S = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
FREE_GB_S, FREE_REQUESTS = 400_000, 1_000_000

CHILD = """
import json, sys
from functions.aws_lambda.handler import handler
from functions.aws_lambda.emulator import FakeContext
with open(sys.argv[1]) as fh:
    event = json.load(fh)
r = handler(event, FakeContext())
sys.stdout.write(json.dumps(r))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--memory-mb", type=int, default=256, help="configured Lambda memory")
    args = ap.parse_args()
    from functions.aws_lambda.emulator import function_url_event
    from nwc_signer.dev.aws import LambdaWallet, moto_server
    from nwc_signer.dev.mint import DevMint
    from signer_core.protocol.webhook import request_delivery, signed_delivery

    with (
        DevMint(input_fee_ppk=0) as mint,
        moto_server() as endpoint,
        tempfile.TemporaryDirectory() as tmp,
    ):
        wallet = LambdaWallet.create(endpoint, mint.url)
        app = wallet.add_app()
        wallet.fund(app, 100)
        env = {**os.environ, **wallet.stack.env, "PYTHONPATH": str(ROOT)}
        times, rss = [], []
        for i in range(args.runs):
            delivery = request_delivery(app.request("get_balance"))
            headers, body = signed_delivery(delivery, wallet.watcher_secret, int(time.time()))
            path = Path(tmp) / f"ev{i}.json"
            path.write_text(json.dumps(function_url_event("POST", "/", "", headers, body)))
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            )
            out = proc.stdout.read() if proc.stdout else b""
            _, status, usage = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - start)
            rss.append(usage.ru_maxrss / 1024)
            result = json.loads(out.decode().strip().splitlines()[-1])
            assert result["statusCode"] == 200, result
            reply = app.read(json.loads(result["body"])["events"][0])
            assert reply["result"] == {"balance": 100_000}, reply
    p50 = statistics.median(times)
    p95 = sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    gb_s = args.memory_mb / 1024 * p50
    per_million = 1_000_000 * (gb_s * PRICE_GB_S + PRICE_PER_REQUEST)
    free = min(FREE_GB_S / gb_s, FREE_REQUESTS)
    print(
        f"cold Lambda-handler get_balance, {args.runs} runs: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms; peak RSS max {max(rss):.1f} MB, "
        f"median {statistics.median(rss):.1f} MB"
    )
    print(f"billed as {args.memory_mb} MB x {p50 * 1000:.0f} ms = {gb_s:.4f} GB-s per request")
    print(
        f"cost: ${per_million:.2f} per million requests "
        f"(arm64 ${PRICE_GB_S}/GB-s + $0.20/M requests)"
    )
    print(f"free tier: {free:,.0f} requests/month ({FREE_GB_S:,} GB-s, {FREE_REQUESTS:,} requests)")


if __name__ == "__main__":
    main()
