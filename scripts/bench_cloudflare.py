#!/usr/bin/env python3
"""The Cloudflare Worker under Pyodide on this machine: start-up and per-request cost.

Runs functions/cloudflare/worker.py in the offline host (`pyodide_host.mjs serve`, Node 22
with JSPI, miniflare's R2 and D1), with a Cashu wallet on the local test mint, and reports:

- the Worker's start-up: loading Pyodide, copying the files, importing worker.py (its top
  level is what Cloudflare's 1 s start-up limit and its deploy-time snapshot cover);
- per request, from the Worker's `Server-Timing` header: Python busy time (wall time minus
  the time blocked in run_sync on JS I/O: what Cloudflare bills as CPU) and I/O wait; and
  the host process's CPU for the request (Python + the Node side of R2/D1/fetch);
- `get_balance` (no mint traffic) and `pay_invoice` (melt at the mint), median and max;
- the host's RSS.

Crypto is the pure-Python backend (NWC_CRYPTO=pure): the only one this host can have
offline (coincurve has no Pyodide build; pycryptodome's Pyodide wheel is on Pyodide's CDN,
not PyPI). Usage:

    .venv/bin/python scripts/bench_cloudflare.py [--runs 20] [--pays 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nwc_signer.dev.cloudflare import PyodideWorkerHost, host_missing  # noqa: E402
from nwc_signer.dev.driver import LocalWallet, WebhookDriver  # noqa: E402
from nwc_signer.dev.mint import DevMint  # noqa: E402
from nwc_signer.dev.mirror import host_mirror  # noqa: E402
from signer_core.protocol.webhook import WebhookResponse, parse_response  # noqa: E402


@dataclass
class WorkerDriver(WebhookDriver):
    """Deliveries to the Worker host; keeps the timing headers of the last answer."""

    url: str
    watcher_secret: bytes = field(repr=False)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))
    last: dict[str, float] = field(default_factory=dict)

    def post(self, headers: dict[str, str], body: bytes) -> WebhookResponse:
        res = self.http.post(self.url + "/", content=body, headers=headers)
        timing = dict(
            part.strip().split(";dur=")
            for part in res.headers.get("server-timing", "").split(",")
            if ";dur=" in part
        )
        self.last = {
            "python_ms": float(timing.get("python", "nan")),
            "io_ms": float(timing.get("io", "nan")),
            "host_cpu_ms": float(res.headers.get("x-host-cpu-ms", "nan")),
            "wall_ms": float(res.headers.get("x-host-wall-ms", "nan")),
        }
        return parse_response(res.status_code, res.headers, res.content)


def summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = samples[0].keys()
    return {
        k: {"median": round(statistics.median(s[k] for s in samples), 2),
            "max": round(max(s[k] for s in samples), 2)}
        for k in keys
    }  # fmt: skip


def run(runs: int, pays: int) -> dict[str, Any]:
    from functions.local.datadir import DataDir

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cf-")))
        mint = stack.enter_context(DevMint())
        wallet = LocalWallet.create(tmp / "wallet", mint.url)
        app = wallet.add_app(name="bench")
        host = stack.enter_context(PyodideWorkerHost(wallet.path, tmp / "miniflare"))
        http = stack.enter_context(httpx.Client(timeout=120))
        host_mirror(wallet.path, host.url, http).push()
        startup = http.get(host.url + "/__admin/stats").json()
        worker = WorkerDriver(host.url, wallet.watcher_secret)
        worker.call(app, "get_balance")
        first = dict(worker.last)
        worker.fund(app, 50 + pays * 20)
        balance = [worker.last]
        for _ in range(runs):
            worker.call(app, "get_balance")
            balance.append(worker.last)
        paid = []
        for _ in range(pays):
            quote = {"amount": 10, "unit": "sat"}
            res = httpx.post(f"{mint.url}/v1/mint/quote/bolt11", json=quote, timeout=10)
            bolt11 = res.json()["request"]
            out = worker.call(app, "pay_invoice", {"invoice": bolt11})
            if out["error"]:
                raise RuntimeError(f"pay_invoice: {out['error']}")
            paid.append(worker.last)
        blob = DataDir(wallet.path).store().read()
        stats = http.get(host.url + "/__admin/stats").json()
        return {
            "startup": {
                k: startup[k] for k in ("load_pyodide_ms", "copy_files_ms", "import_worker_ms")
            },  # fmt: skip
            "first_get_balance": first,
            "get_balance": summary(balance[1:]),
            "pay_invoice": summary(paid),
            "host_rss_mb": stats["rss_mb"],
            "state_bytes_at_start": len(blob[0]) if blob else 0,
            "runs": runs,
            "pays": pays,
        }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--pays", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    missing = host_missing()
    if missing:
        print(f"bench_cloudflare: {missing}", file=sys.stderr)
        return 2
    result = run(args.runs, args.pays)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s = result["startup"]
    print(f"start-up: load Pyodide {s['load_pyodide_ms']:.0f} ms, copy files "
          f"{s['copy_files_ms']:.0f} ms, "
          f"import worker.py {s['import_worker_ms']:.0f} ms")  # fmt: skip
    f = result["first_get_balance"]
    print(f"first get_balance: python {f['python_ms']:.1f} ms, io {f['io_ms']:.1f} ms, "
          f"host CPU {f['host_cpu_ms']:.1f} ms")  # fmt: skip
    for name in ("get_balance", "pay_invoice"):
        r = result[name]
        count = result["runs"] if name == "get_balance" else result["pays"]
        print(f"{name} (median/max of {count}): "
              f"python {r['python_ms']['median']}/{r['python_ms']['max']} ms, "
              f"io {r['io_ms']['median']}/{r['io_ms']['max']} ms, "
              f"host CPU {r['host_cpu_ms']['median']}/{r['host_cpu_ms']['max']} ms")  # fmt: skip
    print(f"host RSS {result['host_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
