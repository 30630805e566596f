"""The signer's I/O inside Pyodide (Cloudflare's Python Workers, Deno): JS promises awaited
from the synchronous core with ``run_sync`` (JSPI), and httpx over the runtime's ``fetch``.

Every entry point that runs the core in Pyodide uses these; nothing here imports ``js`` or
``pyodide`` before it is called, so CPython imports this module for free (and type-checks it).
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

import httpx


class IoClock:
    """Wall time spent blocked in ``run_sync`` (waiting on JS I/O). A Pyodide isolate runs
    one delivery at a time, so a delivery's wall time minus this is the time Python was
    busy: what Cloudflare bills as CPU (it does not count I/O waits)."""

    waited_s = 0.0


def run_sync(promise: Any) -> Any:
    """Block the (synchronous) core on a JS promise: needs JSPI and an async entry."""
    started = time.perf_counter()
    try:
        return importlib.import_module("pyodide.ffi").run_sync(promise)
    finally:
        IoClock.waited_s += time.perf_counter() - started


def to_js(value: Any) -> Any:
    """Pyodide's ``to_js`` with dicts as plain JS objects (R2 reads ``onlyIf`` as object
    properties, and miniflare's binding proxy only serialises plain objects, not Maps)."""
    ffi = importlib.import_module("pyodide.ffi")
    js = importlib.import_module("js")
    return ffi.to_js(value, dict_converter=js.Object.fromEntries)


def is_null(value: Any) -> bool:
    """JS ``null`` as Python sees it: Pyodide 314 gives ``pyodide.ffi.jsnull`` (not None,
    seen with miniflare's binding); older Pyodide and the CPython fakes give None."""
    if value is None:
        return True
    ffi = sys.modules.get("pyodide.ffi")
    return ffi is not None and value is getattr(ffi, "jsnull", None)


class JsFetchTransport(httpx.BaseTransport):
    """httpx over the runtime's ``fetch``, blocking with ``run_sync`` (Pyodide has no
    sockets). Any failure is a ``ReadError``: a rejected fetch cannot tell "never sent" from
    "sent, answer lost", and the Cashu client treats a read error as maybe-received, which
    is the safe reading for a melt."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        js = importlib.import_module("js")
        timeout = request.extensions.get("timeout", {})
        seconds = max((v for v in timeout.values() if v is not None), default=None)
        init: dict[str, Any] = {
            "method": request.method,
            "headers": dict(request.headers.items()),
        }
        body = request.read()
        if body:
            init["body"] = body
        if seconds is not None:
            init["signal"] = js.AbortSignal.timeout(int(seconds * 1000))
        try:
            answer = run_sync(js.fetch(str(request.url), to_js(init)))
            content = bytes(run_sync(answer.arrayBuffer()).to_bytes())
            # fetch has already decoded the body: its encoding and length no longer apply
            headers = [
                (str(k), str(v))
                for k, v in answer.headers.entries()
                if str(k).lower() not in ("content-encoding", "content-length")
            ]
            status = int(answer.status)
        except Exception as exc:
            raise httpx.ReadError(f"fetch failed ({type(exc).__name__})", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)


def with_js_fetch(wallet: Any) -> Any:
    """A pipeline wallet hook: a Cashu wallet is rebuilt over the same state slice with the
    JS transport (its constructor's ``transport`` argument, as tests/faults.py uses)."""
    from signer_core.wallets.cashu.wallet import CashuWallet

    if isinstance(wallet, CashuWallet):
        return CashuWallet(wallet.data, wallet.env, transport=JsFetchTransport())
    return wallet
