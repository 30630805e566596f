#!/usr/bin/env python3
"""Cold Spark request, offline: a fresh interpreter per run that imports the SDK, restores
the storage folder from the sealed-state slice, builds the SDK in server mode (connect),
reads the balance, disconnects and packs the folder back. Also the size of the Spark part
of the state. Usage:

    .venv/bin/python scripts/bench_spark.py [--runs 25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHRASE = " ".join(["abandon"] * 11 + ["about"])

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import breez_sdk_spark
t1 = time.perf_counter()
from signer_core.wallets.base import WalletEnv
from signer_core.wallets.spark.wallet import SparkWallet
data = json.load(open(sys.argv[1]))
w = SparkWallet(data, WalletEnv(seed=b"", now=int(time.time()), mnemonic=sys.argv[2]))
t2 = time.perf_counter()
w.session.folder()
t3 = time.perf_counter()
balance = w.get_balance_msat()
t4 = time.perf_counter()
w.session._digest = ""  # force the pack a state-changing request pays
w.session.save()
t5 = time.perf_counter()
w.close()
print(json.dumps({"import": t1 - t0, "restore": t3 - t2, "build_op_disconnect": t4 - t3,
                  "save": t5 - t4, "total_in_process": t5 - t0, "balance": balance}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    from signer_core.wallets.spark.wallet import SparkWallet

    data = SparkWallet.create_data("regtest", mnemonic=PHRASE)
    record = data["storage"]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "spark.json"
        state.write_text(json.dumps(data))
        rows, walls = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(state), PHRASE],
                cwd=ROOT, check=True, capture_output=True, text=True,
            )  # fmt: skip
            walls.append(time.perf_counter() - start)
            rows.append(json.loads(out.stdout))
    keys = ["import", "restore", "build_op_disconnect", "save", "total_in_process"]
    print(f"runs: {args.runs} fresh interpreters (python {sys.version.split()[0]})")
    for key in keys:
        values = [r[key] * 1000 for r in rows]
        print(f"  {key:20s} p50 {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")
    wall = [w * 1000 for w in walls]
    print(f"  {'process wall':20s} p50 {statistics.median(wall):7.1f} ms   max {max(wall):7.1f} ms")
    slice_json = len(json.dumps(data))
    print(f"storage folder: {record['size']} B raw (tar) -> {len(record['b64'])} B base64(zlib)")
    print(f"Spark slice of the state (JSON, before the state's own zlib): {slice_json} B")


if __name__ == "__main__":
    main()
