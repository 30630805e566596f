#!/usr/bin/env python3
"""The Vercel function (functions/vercel/api/webhook.py) on this machine: bundle size against
Vercel's Python limit, and the cold start of the function, Spark included.

- bundle: the deployed layout (docs/vercel.md) plus what Vercel's build installs from
  requirements.txt, resolved by pip for Vercel's target (x86_64 manylinux, CPython 3.12,
  binary wheels only), measured unzipped against the 500 MB limit for Python functions
  (`--no-bundle` skips it: it downloads the wheels from PyPI);
- imports: a fresh interpreter in the project folder, the time to load the entry as the
  runtime does (api/webhook.py + signer_core), then breez_sdk_spark, coincurve, httpx;
- cold start: from spawning the function's interpreter (the project served as Vercel's
  runtime serves a `handler` class, over the fake Blob API) to the answer of its first
  request, a signed get_balance to a Spark wallet (the real breez-sdk-spark, regtest,
  offline: its storage restored from the sealed state), `--cold-runs` times;
- warm: the same request again on the running instance (`--runs` times).

    .venv/bin/python scripts/bench_vercel.py [--cold-runs 3] [--runs 10] [--no-bundle] [--json]
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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nwc_signer.dev.harness import run_cli  # noqa: E402
from nwc_signer.dev.nwc_app import NwcApp  # noqa: E402
from nwc_signer.dev.process import free_port  # noqa: E402
from nwc_signer.dev.vercel import FUNCTION_DIR, VercelHost, build_project  # noqa: E402
from signer_core.protocol.webhook import request_delivery, signed_delivery  # noqa: E402

LIMIT_MB = 500  # Vercel: Python functions, unzipped bundle
PLATFORMS = ["manylinux2014_x86_64"] + [f"manylinux_2_{m}_x86_64" for m in range(17, 35)]
IMPORTS = """
import json, sys, time
t0 = time.perf_counter()
from nwc_signer.dev.vercel import load_handler
load_handler('.')
t1 = time.perf_counter()
import breez_sdk_spark
t2 = time.perf_counter()
import coincurve, httpx, Crypto.Cipher.AES
t3 = time.perf_counter()
print(json.dumps({"entry_ms": (t1 - t0) * 1e3, "breez_sdk_spark_ms": (t2 - t1) * 1e3,
                  "native_crypto_httpx_ms": (t3 - t2) * 1e3}))
"""


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bundle(work: Path) -> dict[str, Any]:
    project = build_project(work / "project")
    site = work / "site"
    args = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(site), "--only-binary=:all:", "--python-version", "3.12",
            "--implementation", "cp", "-r", str(FUNCTION_DIR / "requirements.txt")]  # fmt: skip
    for platform in PLATFORMS:
        args += ["--platform", platform]
    subprocess.run(args, check=True)
    sizes = {d.name: tree_bytes(d) for d in site.iterdir() if d.is_dir()}
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    total = tree_bytes(project) + tree_bytes(site)
    return {
        "project_mb": round(tree_bytes(project) / 1e6, 2),
        "dependencies_mb": round(tree_bytes(site) / 1e6, 1),
        "total_unzipped_mb": round(total / 1e6, 1),
        "limit_mb": LIMIT_MB,
        "largest": {name: round(size / 1e6, 1) for name, size in top},
    }


def imports(project: Path) -> dict[str, float]:
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", IMPORTS], cwd=project, check=True,
                              capture_output=True)  # fmt: skip
        runs.append(json.loads(done.stdout))
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


def spark_wallet(work: Path) -> tuple[Path, bytes, NwcApp]:
    folder = work / "wallet"
    code, _, err = run_cli("wallet", "create", "--data-dir", str(folder), "--backend", "spark",
                           "--network", "regtest", "--relay", "ws://127.0.0.1:1")  # fmt: skip
    if code != 0:
        raise SystemExit(f"wallet create failed: {err}")
    watcher = bytes.fromhex((folder / "secrets" / "watcher.key").read_text().strip())
    code, out, err = run_cli("connection", "add", "--data-dir", str(folder), "--name", "bench",
                             "--no-qr")  # fmt: skip
    if code != 0:
        raise SystemExit(f"connection add failed: {err}")
    uri = next(line for line in out.splitlines() if line.startswith("nostr+walletconnect://"))
    return folder, watcher, NwcApp.from_uri(uri)


def get_balance(http: httpx.Client, url: str, app: NwcApp, watcher: bytes) -> int:
    delivery = request_delivery(app.request("get_balance"), ["ws://127.0.0.1:1"])
    headers, body = signed_delivery(delivery, watcher, int(time.time()))
    return http.post(url, content=body, headers=headers).status_code


def cold_and_warm(work: Path, cold_runs: int, runs: int) -> dict[str, Any]:
    folder, watcher, app = spark_wallet(work)
    host = VercelHost(folder, work / "vercel")
    host.fake.start()
    project = build_project(host.workdir / "project")
    host.mirror().push()
    cold: list[float] = []
    warm: list[float] = []
    with httpx.Client(timeout=60) as http:
        for i in range(cold_runs):
            port = free_port()
            url = f"http://127.0.0.1:{port}/api/webhook"
            argv = [sys.executable, "-m", "nwc_signer.dev.vercel", "--project", str(project),
                    "--port", str(port)]  # fmt: skip
            start = time.perf_counter()
            quiet = subprocess.DEVNULL
            child = subprocess.Popen(
                argv, cwd=project, env=host.environment(), stdout=quiet, stderr=quiet
            )
            try:
                while True:
                    try:
                        status = get_balance(http, url, app, watcher)
                        break
                    except httpx.TransportError:
                        time.sleep(0.005)
                cold.append((time.perf_counter() - start) * 1e3)
                if status != 200:
                    raise SystemExit(f"the first request answered {status}")
                if i == cold_runs - 1:
                    for _ in range(runs):
                        t = time.perf_counter()
                        assert get_balance(http, url, app, watcher) == 200
                        warm.append((time.perf_counter() - t) * 1e3)
            finally:
                child.terminate()
                child.wait(10)
    host.fake.close()
    return {
        "cold_first_answer_ms": [round(c) for c in cold],
        "cold_median_ms": round(statistics.median(cold)),
        "warm_get_balance_median_ms": round(statistics.median(warm), 1) if warm else None,
        "imports": imports(project),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-bundle", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result: dict[str, Any] = {"python": sys.version.split()[0]}
        if not args.no_bundle:
            result["bundle"] = bundle(work / "bundle")
        result.update(cold_and_warm(work / "run", args.cold_runs, args.runs))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    if "bundle" in result:
        b = result["bundle"]
        print(f"bundle: {b['total_unzipped_mb']} MB unzipped (limit {b['limit_mb']} MB): "
              f"project {b['project_mb']} MB, dependencies {b['dependencies_mb']} MB; "
              f"largest {b['largest']}")  # fmt: skip
    print(f"imports (fresh interpreter, median of 3): {result['imports']}")
    print(f"cold start to the first answer (Spark get_balance): {result['cold_first_answer_ms']} ms"
          f" (median {result['cold_median_ms']} ms)")  # fmt: skip
    print(f"warm get_balance: median {result['warm_get_balance_median_ms']} ms")


if __name__ == "__main__":
    main()
