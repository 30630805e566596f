"""The I/O question of the Pyodide spike (issue #10): can synchronous Python block on an
async JS call? Pyodide's `run_sync` suspends the WebAssembly stack until a JS promise
settles (JavaScript Promise Integration, JSPI); `pyodide_host.mjs jspi` drives this module.

`FetchStore` is option (a) of docs/cloudflare.md ("## Pyodide") in miniature: the signer's
synchronous `StateStore` over an HTTP object store, every call an awaited JS fetch.
"""

from __future__ import annotations

import importlib
import time
from typing import Any


def _app() -> Any:
    """The spike's other half (a top-level module inside Pyodide, not a package here)."""
    return importlib.import_module("pyodide_spike_app")


def _ffi() -> Any:
    """`pyodide.ffi` (Pyodide only; imported by name so CPython tools do not look for it)."""
    return importlib.import_module("pyodide.ffi")


def _js() -> Any:
    return importlib.import_module("js")


def sync_get(url: str) -> str:
    """A plain synchronous function doing network I/O through JS fetch + run_sync."""
    run_sync = _ffi().run_sync
    response = run_sync(_js().fetch(url))
    return str(run_sync(response.text()))


async def jspi_ping(url: str) -> dict[str, Any]:
    """An async entry (as a Worker's on_fetch) calling synchronous code that blocks."""
    return {"ok": sync_get(url) == "pong", "can_run_sync": bool(_ffi().can_run_sync())}


OVERHEAD_KINDS = ("run_sync_resolved", "await_resolved", "fetch_run_sync", "fetch_await")


async def jspi_loop(kind: str, url: str, calls: int) -> None:
    """`calls` rounds of one way to wait for JS (the host times each loop, wall and CPU):
    run_sync / await on an already resolved promise, and a loopback fetch made from sync
    code through run_sync versus awaited directly in async code."""
    ffi, js = _ffi(), _js()
    for _ in range(calls):
        if kind == "run_sync_resolved":
            ffi.run_sync(js.Promise.resolve(1))
        elif kind == "await_resolved":
            await js.Promise.resolve(1)
        elif kind == "fetch_run_sync":
            sync_get(url)
        elif kind == "fetch_await":
            response = await js.fetch(url)
            await response.text()
        else:
            raise ValueError(f"unknown kind {kind!r}")


class FetchStore:
    """`StateStore` over an HTTP object store with ETag compare-and-swap (as R2's onlyIf),
    every call an awaited JS fetch made synchronous with run_sync: option (a)."""

    def __init__(self, base: str) -> None:
        self.url = f"{base}/blob"
        self.calls = 0

    def _fetch(self, init: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        ffi, js = _ffi(), _js()
        self.calls += 1
        options = ffi.to_js(init or {}, dict_converter=js.Object.fromEntries)
        response = ffi.run_sync(js.fetch(self.url, options))
        body = ffi.run_sync(response.arrayBuffer()).to_bytes()
        return int(response.status), bytes(body), str(response.headers.get("etag") or "")

    def read(self) -> tuple[bytes, str] | None:
        status, body, etag = self._fetch()
        return None if status == 404 else (body, etag)

    def write(self, blob: bytes, expected_version: str | None) -> str:
        from signer_core.stores.base import VersionConflict

        condition = (
            {"If-None-Match": "*"} if expected_version is None else {"If-Match": expected_version}
        )
        data = _ffi().to_js(blob)
        status, _, etag = self._fetch({"method": "PUT", "headers": condition, "body": data})
        if status == 412:
            raise VersionConflict(f"expected {expected_version}")
        return etag


async def jspi_delivery(base: str) -> dict[str, Any]:
    """A whole get_balance delivery, unchanged synchronous pipeline, over a FetchStore."""
    app = _app()
    h = app.harness()
    store = FetchStore(base)
    current = h.store.read()
    assert current is not None
    store.write(current[0], None)
    h.store = store
    store.calls = 0
    started = time.perf_counter()
    status = app.deliver(1)
    first = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    app.deliver(2)
    second = (time.perf_counter() - started) * 1000
    return {
        "status": status,
        "reply": app.reply(-1).get("reply"),
        "store_calls": store.calls,
        "first_ms": round(first, 2),
        "second_ms": round(second, 2),
    }
