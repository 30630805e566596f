#!/usr/bin/env python3
"""The Deno entry (functions/deno/main.ts) on this machine: cold start and per-request cost.

Runs main.ts in the npm `deno` binary over a real Deno KV file, with a Cashu wallet on the
local test mint (pure-Python crypto: the only backend Pyodide has offline), and reports:

- cold start: from spawning `deno run main.ts` to the first answer of a signed get_balance
  delivery (posted as soon as the port accepts; it waits for the instance's start-up), and
  the instance's own start-up split (load Pyodide, copy the Python files, import entry.py);
  `--cold-runs` processes, each on the same KV file (the wallet already in it);
- warm `get_balance` and `pay_invoice` (a melt at the mint): the host's wall and CPU time for
  the request (x-host-* headers: Pyodide + Deno's KV and fetch work) and the client's wall;
- the instance's RSS after the warm requests.

    .venv/bin/python scripts/bench_deno.py [--runs 20] [--pays 5] [--cold-runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nwc_signer.dev.deno import HOST_DIR, DenoHost, host_argv, host_missing  # noqa: E402
from nwc_signer.dev.driver import LocalWallet, WebhookDriver  # noqa: E402
from nwc_signer.dev.mint import DevMint  # noqa: E402
from nwc_signer.dev.mirror import host_mirror  # noqa: E402
from nwc_signer.dev.process import free_port  # noqa: E402
from signer_core.protocol.webhook import WebhookResponse, parse_response  # noqa: E402


@dataclass
class DenoDriver(WebhookDriver):
    """Deliveries to the Deno host; keeps the timings of the last answer."""

    url: str
    watcher_secret: bytes = field(repr=False)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))
    last: dict[str, float] = field(default_factory=dict)

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        t = time.perf_counter()
        res = self.http.post(self.url + "/", content=body, headers=headers)
        self.last = {
            "client_wall_ms": (time.perf_counter() - t) * 1000,
            "host_wall_ms": float(res.headers.get("x-host-wall-ms", "nan")),
            "host_cpu_ms": float(res.headers.get("x-host-cpu-ms", "nan")),
        }
        return parse_response(res.status_code, res.headers, res.content)


def summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        k: {"median": round(statistics.median(s[k] for s in samples), 2),
            "max": round(max(s[k] for s in samples), 2)}
        for k in samples[0]
    }  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cold_start(host: DenoHost, driver: DenoDriver, app: Any) -> dict[str, Any]:
    """Spawn main.ts, post get_balance as soon as the port accepts: time to the answer."""
    port = free_port()
    log = host.persist / f"cold-{port}.log"
    argv = host_argv("serve", "--hostname", "127.0.0.1", "--port", str(port),
                     "--kv", str(host.persist / "kv.sqlite3"), "--offline", "--admin")  # fmt: skip
    event = app.request("get_balance")
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=HOST_DIR, env=host.environment(), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            cold = DenoDriver(f"http://127.0.0.1:{port}", driver.watcher_secret)
            while True:
                try:
                    response = cold.deliver(event)
                    break
                except httpx.ConnectError:
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError("the Deno host never listened") from None
                    time.sleep(0.005)
            total_ms = (time.perf_counter() - t0) * 1000
            if response.status != 200:
                raise RuntimeError(f"cold get_balance: HTTP {response.status}")
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    startup: dict[str, Any] = {}
    for line in log.read_text().splitlines():
        if line.startswith('{"ready_ms"'):
            startup = json.loads(line)
    first = cold.last["host_wall_ms"]
    return {"process_start_to_first_answer_ms": round(total_ms, 1), **startup,
            "first_request_host_wall_ms": first, "rss_after_mb": rss}  # fmt: skip


def run(runs: int, pays: int, cold_runs: int) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-deno-")))
        mint = stack.enter_context(DevMint())
        wallet = LocalWallet.create(tmp / "wallet", mint.url)
        app = wallet.add_app(name="bench")
        host = DenoHost(wallet.path, tmp / "deno").start()
        stack.callback(host.stop)
        http = stack.enter_context(httpx.Client(timeout=120))
        host_mirror(wallet.path, host.url, http).push()
        driver = DenoDriver(host.url, wallet.watcher_secret)
        driver.fund(app, 50 + pays * 20)
        balance = []
        for _ in range(runs):
            driver.call(app, "get_balance")
            balance.append(driver.last)
        paid = []
        for _ in range(pays):
            quote = {"amount": 10, "unit": "sat"}
            res = httpx.post(f"{mint.url}/v1/mint/quote/bolt11", json=quote, timeout=10)
            out = driver.call(app, "pay_invoice", {"invoice": res.json()["request"]})
            if out["error"]:
                raise RuntimeError(f"pay_invoice: {out['error']}")
            paid.append(driver.last)
        assert host.proc is not None
        warm_rss = rss_mb(host.proc.pid)
        state = http.get(host.url + "/__admin/state").content
        host.stop()  # the KV file stays; each cold process opens it
        colds = [cold_start(host, driver, app) for _ in range(cold_runs)]
        return {
            "cold": colds,
            "cold_median_ms": statistics.median(
                c["process_start_to_first_answer_ms"] for c in colds
            ),
            "get_balance": summary(balance),
            "pay_invoice": summary(paid),
            "warm_rss_mb": warm_rss,
            "state_bytes": len(state),
            "runs": runs,
            "pays": pays,
        }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--pays", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    missing = host_missing()
    if missing:
        print(f"bench_deno: {missing}", file=sys.stderr)
        return 2
    result = run(args.runs, args.pays, args.cold_runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for c in result["cold"]:
        print(f"cold: process start -> first answer {c['process_start_to_first_answer_ms']:.0f} ms"
              f" (load Pyodide {c.get('load_pyodide_ms', 0):.0f}, copy files "
              f"{c.get('copy_files_ms', 0):.0f}, import entry.py {c.get('import_entry_ms', 0):.0f},"
              f" first request {c['first_request_host_wall_ms']:.0f} ms;"
              f" RSS {c['rss_after_mb']} MB)")  # fmt: skip
    for name in ("get_balance", "pay_invoice"):
        r = result[name]
        count = result["runs"] if name == "get_balance" else result["pays"]
        print(f"warm {name} (median/max of {count}): host wall "
              f"{r['host_wall_ms']['median']}/{r['host_wall_ms']['max']} ms, host CPU "
              f"{r['host_cpu_ms']['median']}/{r['host_cpu_ms']['max']} ms, client wall "
              f"{r['client_wall_ms']['median']}/{r['client_wall_ms']['max']} ms")  # fmt: skip
    print(
        f"instance RSS after warm requests {result['warm_rss_mb']} MB; "
        f"state {result['state_bytes']} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
