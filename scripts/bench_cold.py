#!/usr/bin/env python3
"""Cold-request benchmark: a fresh interpreter per request, as a cold Lambda would run.

Each run spawns `python -c CHILD`, which imports the local entry point (functions.local),
handles ONE watcher-signed webhook and writes the sealed state back, then exits. We time
the whole process (spawn to exit) and read its peak RSS from wait4(). In the same run we
time a bare `python -c pass` for the ratio. Usage:

    .venv/bin/python scripts/bench_cold.py [--runs 30] [--mint-url URL] [--importtime]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys
from functions.local import LocalFunction
with open(sys.argv[2]) as fh:
    req = json.load(fh)
r = LocalFunction(sys.argv[1]).handle(req["headers"], req["body"].encode())
sys.stdout.write(json.dumps({"status": r.status, "events": r.events}))
"""


def spawn(argv: list[str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in KiB, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss, out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def write_request(path: Path, wallet, event) -> None:
    """A signed delivery of `event`, saved for the child process to replay."""
    from signer_core.protocol.webhook import request_delivery, signed_delivery

    delivery = request_delivery(event)
    headers, body = signed_delivery(delivery, wallet.watcher_secret, int(time.time()))
    path.write_text(json.dumps({"headers": headers, "body": body.decode()}))


def cold_requests(wallet, app, make_event, runs: int, tmp: Path, label: str) -> dict:
    """Run `runs` cold requests; make_event(i) returns the request event of run i."""
    times, rss = [], []
    for i in range(runs):
        req = tmp / f"req-{label}-{i}.json"
        write_request(req, wallet, make_event(i))
        elapsed, peak, out = spawn([sys.executable, "-c", CHILD, str(wallet.path), str(req)])
        reply = json.loads(out)
        assert reply["status"] == 200, reply
        answer = app.read(reply["events"][0])
        assert answer["error"] is None, answer
        times.append(elapsed)
        rss.append(peak)
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": pct(times, 0.95) * 1000,
        "peak_rss_mb": max(rss) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--mint-url", help="use this mint instead of starting the test mint")
    parser.add_argument("--importtime", action="store_true", help="print the cold import tree")
    args = parser.parse_args()
    if args.runs < 20:
        parser.error("use at least 20 runs")

    from nwc_signer.dev.harness import LocalWallet
    from nwc_signer.dev.mint import DevMint

    compileall.compile_dir(ROOT / "signer_core", quiet=1)  # as a deployed bundle ships .pyc
    compileall.compile_dir(ROOT / "functions", quiet=1)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        mint_url = args.mint_url or stack.enter_context(DevMint()).url
        wallet = LocalWallet.create(tmp / "wallet", mint_url)
        app = wallet.add_app(name="bench")
        wallet.fund(app, 20_000, invoices=8)
        # the payee sits on a second mint, so payments leave through the payer mint's
        # (fake) Lightning backend like a real external payment, not an internal settlement
        payee_mint = stack.enter_context(DevMint()).url
        payee = LocalWallet.create(tmp / "payee", payee_mint)
        payee_app = payee.add_app(name="payee")

        bare = []
        for _ in range(args.runs):
            elapsed, _, _ = spawn([sys.executable, "-c", "pass"])
            bare.append(elapsed)
        bare_p50 = statistics.median(bare) * 1000

        balance = cold_requests(
            wallet, app, lambda i: app.request("get_balance"), args.runs, tmp, "balance"
        )
        invoices = [payee.invoice(payee_app, 10) for _ in range(args.runs)]
        pay = cold_requests(
            wallet,
            app,
            lambda i: app.request("pay_invoice", {"invoice": invoices[i]}),
            args.runs,
            tmp,
            "pay",
        )
        state_bytes = (wallet.path / "state" / "wallet.sealed").stat().st_size

        print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  runs: {args.runs}")
        print(f"python: {sys.version.split()[0]}  cores: {os.cpu_count()}")
        print(f"bare interpreter (python -c pass): p50 {bare_p50:.1f} ms")
        print(
            f"cold get_balance: p50 {balance['p50_ms']:.1f} ms  p95 {balance['p95_ms']:.1f} ms"
            f"  ratio {balance['p50_ms'] / bare_p50:.1f}x bare  peak RSS "
            f"{balance['peak_rss_mb']:.1f} MB"
        )
        print(
            f"cold pay_invoice (local nutshell mint): p50 {pay['p50_ms']:.1f} ms  "
            f"p95 {pay['p95_ms']:.1f} ms  peak RSS {pay['peak_rss_mb']:.1f} MB"
        )
        print(f"sealed state after the run: {state_bytes} bytes")

        if args.importtime:
            req = tmp / "req-importtime.json"
            write_request(req, wallet, app.request("get_balance"))
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", CHILD, str(wallet.path), str(req)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            rows = []
            for line in proc.stderr.splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[1].strip().isdigit():
                    rows.append((int(parts[1]), parts[2].rstrip()))
            print("\nslowest imports of a cold get_balance (cumulative us):")
            for cumulative, name in sorted(rows, reverse=True)[:15]:
                print(f"  {cumulative:>8}  {name}")


if __name__ == "__main__":
    main()
