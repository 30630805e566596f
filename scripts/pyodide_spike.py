"""Measure the signer core under Pyodide in Node, offline (issue #10, Cloudflare Workers).

    .venv/bin/python scripts/pyodide_spike.py [--repeat 3] [--runs 20] [--calls 200]

Runs functions/cloudflare/pyodide_host.mjs with the pinned Node 22 (after
scripts/bootstrap.sh): `bench` without and with JSPI, `jspi` without and with it, each
`--repeat` times, and prints the median of every figure as Markdown tables, with the size
of what a Worker upload would carry. The machine is shared, so single runs vary by up to
2x: compare medians, and runs made one after another.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOST = REPO / "functions" / "cloudflare"
NODE = HOST / "node_modules" / ".bin" / "node"
VENDORED = REPO / ".venv-pyodide" / "python_modules"
JSPI = "--experimental-wasm-jspi"


def run_host(flags: list[str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(NODE), *flags, "pyodide_host.mjs", *args],
        cwd=HOST,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"pyodide_host.mjs {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def medians(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    """The median of each numeric figure under `key` across runs."""
    names = results[0][key].keys()
    return {n: statistics.median(float(r[key][n]) for r in results) for n in names}


def overhead_medians(results: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    names = results[0]["overhead"].keys()
    return {
        n: (
            statistics.median(r["overhead"][n]["wall_us"] for r in results),
            statistics.median(r["overhead"][n]["cpu_us"] for r in results),
        )
        for n in names
    }


def files(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and (suffixes is None or p.suffix in suffixes)
    )


def gzip_size(paths: list[Path]) -> int:
    """Bytes of a gzip'd tar of `paths` (Cloudflare's size limit applies after compression)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for p in paths:
            tar.add(p, arcname=str(p.relative_to(REPO)))
    return len(gzip.compress(buffer.getvalue(), compresslevel=9))


def sizes() -> list[tuple[str, int, int]]:
    ours = files(REPO / "signer_core", (".py",))
    native_only = [p for p in ours if "spark" in p.parts or p.name in ("s3.py", "local.py")]
    lean = [p for p in ours if p not in native_only]
    vendored = files(VENDORED)
    pydantic = [p for p in vendored if "mnemonic" not in str(p.relative_to(VENDORED))]
    rows = [
        ("signer_core/*.py (all)", ours),
        ("signer_core without spark/, stores/s3.py, stores/local.py", lean),
        ("vendored: pydantic, pydantic-core, typing-*, annotated-types", pydantic),
        ("vendored: all (+ mnemonic)", vendored),
        ("upload: lean signer_core + pydantic set", lean + pydantic),
    ]
    return [(name, sum(p.stat().st_size for p in ps), gzip_size(ps)) for name, ps in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default: 3)")
    parser.add_argument("--runs", type=int, default=20, help="warm deliveries (default: 20)")
    parser.add_argument("--calls", type=int, default=200, help="calls per I/O loop (default: 200)")
    args = parser.parse_args()
    if not NODE.exists() or not VENDORED.exists():
        sys.exit("the Pyodide host is not installed: run scripts/bootstrap.sh")

    bench = {
        label: [run_host(flags, "bench", "--runs", str(args.runs)) for _ in range(args.repeat)]
        for label, flags in (("no flags", []), (JSPI, [JSPI]))
    }
    jspi_on = [run_host([JSPI], "jspi", "--calls", str(args.calls)) for _ in range(args.repeat)]
    jspi_off = [run_host([], "jspi", "--calls", str(args.calls)) for _ in range(args.repeat)]

    first = bench["no flags"][0]
    print(f"# Pyodide {first['pyodide']}, Node {first['node']}, medians of {args.repeat} runs\n")
    print(f"first reply: {json.dumps(first['first_reply']['reply'])}")
    print(f"Cashu import under Pyodide: {first['coincurve_import'] or 'ok'}")
    print(f"pydantic under Pyodide: {json.dumps(first['pydantic'])}\n")
    print("| figure (ms) | " + " | ".join(bench) + " |")
    print("|---|" + "---:|" * len(bench))
    table = {label: medians(runs, "timings") for label, runs in bench.items()}
    for name in table["no flags"]:
        print(f"| {name} | " + " | ".join(f"{table[lb][name]:.1f}" for lb in bench) + " |")

    print("\n| I/O from Python (per call) | wall µs | CPU µs |\n|---|---:|---:|")
    for label, runs in ((f"{JSPI}", jspi_on), ("no flags", jspi_off)):
        for name, (wall, cpu) in overhead_medians(runs).items():
            print(f"| {name} ({label}) | {wall:.0f} | {cpu:.0f} |")
    for label, runs in ((JSPI, jspi_on), ("no flags", jspi_off)):
        r = runs[0]
        print(
            f"\n{label}: can_run_sync in runPython={r['can_run_sync_in_runPython']}, "
            f"in runPythonAsync={r['can_run_sync_in_runPythonAsync']}; "
            f"sync fetch from an async entry: {r['sync_fetch_from_async_entry']}; "
            f"from a plain JS call: {r['sync_fetch_from_plain_js_call']}; "
            f"via callPromising: {r['sync_fetch_via_callPromising']}"
        )
    over_fetch = [r["delivery_over_fetch_store"] for r in jspi_on]
    print(
        f"\nget_balance over a fetch-backed store (run_sync): status {over_fetch[0]['status']}, "
        f"{over_fetch[0]['store_calls']} store calls for 2 deliveries, second delivery "
        f"{statistics.median(d['second_ms'] for d in over_fetch):.1f} ms (median)"
    )

    print("\n| upload part | bytes | gzip bytes |\n|---|---:|---:|")
    for name, raw, packed in sizes():
        print(f"| {name} | {raw:,} | {packed:,} |")


if __name__ == "__main__":
    main()
