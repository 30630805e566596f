"""The Cloudflare Worker entry (Python Workers, Pyodide): a thin adapter around
``signer_core.pipeline.handle_webhook``, like ``functions/local``.

The core is synchronous; its I/O (the R2 state object, the D1 rollback guard, the mint's
HTTP) blocks on JS promises with ``pyodide.ffi.run_sync``, which needs JSPI and an async
entry: ``Default.fetch`` is that entry (docs/cloudflare.md, "The I/O question").

Bindings and settings (wrangler): ``STATE`` (R2 bucket, object ``wallet.sealed``), ``GUARD``
(D1 database: the rollback high-water mark), secret ``ROOT_SECRET`` (64 hex), var
``WATCHER_PUBKEY``, secret (or var) ``WALLET_ID``; a missing or malformed one answers 503
"not configured" (a button deploy before ``deploy cloudflare --existing-worker``). Without a
``GUARD`` binding the Worker refuses every delivery (503): R2 alone can be rolled back, so
there is no unguarded mode.

Outside the Workers runtime (the offline Node host, ``pyodide_host.mjs serve``) the
``workers`` module does not exist; a minimal stand-in with the same shape is used there.
This file is one module on purpose: a Python Worker's main module imports its siblings as
top-level modules, which mypy on CPython cannot follow.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from signer_core import entrypoint
from signer_core.jsffi import IoClock, is_null, run_sync, with_js_fetch
from signer_core.pipeline import SignerConfig, WebhookRequest, WebhookResponse, handle_webhook
from signer_core.protocol.webhook import encode_response
from signer_core.session import Secrets
from signer_core.stores.base import StoreUnavailable
from signer_core.stores.r2 import R2Store

log = logging.getLogger("nwc_signer.cloudflare")

# Everything a delivery may import, imported with this module: Cloudflare snapshots the
# isolate after the top-level imports at deploy, so these cost nothing on a cold start,
# and no request imports a module while another is suspended in run_sync (a fresh isolate
# importing for two concurrent deliveries crashed Pyodide: tests/test_cloudflare_worker.py).
PRELOAD = (
    "signer_core.request",
    "signer_core.wake",
    "signer_core.wallets.cashu.wallet",
    *(f"signer_core.methods.{name}" for name in (
        "get_balance", "get_budget", "get_info", "list_transactions", "lookup_invoice",
        "make_invoice", "pay_invoice",
    )),
)  # fmt: skip
for _name in PRELOAD:
    importlib.import_module(_name)

# One delivery at a time per isolate. The core is synchronous and blocks on JS promises
# with run_sync; interleaving two suspended cores in one Pyodide is what crashed, and a
# personal wallet gains nothing from it (its deliveries would only race each other's
# compare-and-swap).
SERIAL = asyncio.Lock()

STATE_KEY = "wallet.sealed"
GUARD_ID = "wallet"


class _StandInEntrypoint:
    """The shape of ``workers.WorkerEntrypoint``: the runtime sets ``env`` (and ``ctx``)."""

    def __init__(self, ctx: Any = None, env: Any = None) -> None:
        self.ctx = ctx
        self.env = env


class _StandInResponse:
    """The shape of ``workers.Response`` the host reads: body bytes, status, headers."""

    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None):
        self.body = body
        self.status = status
        self.headers = dict(headers or {})


try:  # the Python Workers runtime
    _workers = importlib.import_module("workers")
    WorkerEntrypoint: Any = _workers.WorkerEntrypoint
    Response: Any = _workers.Response
except ImportError:  # the offline Node host (and CPython, for type checks)
    WorkerEntrypoint = _StandInEntrypoint
    Response = _StandInResponse


# --- the rollback guard: D1 ------------------------------------------------------------


class D1GenerationGuard:
    """``GenerationGuard`` in a D1 table: one row per wallet, raised with ``MAX`` in one
    statement, so it never goes down and concurrent advances cannot lose the higher one.
    D1 is strongly consistent (one primary), unlike KV (eventually consistent, so a read
    could see an older, lower mark)."""

    SCHEMA = "CREATE TABLE IF NOT EXISTS guard (id TEXT PRIMARY KEY, high_water INTEGER NOT NULL)"

    def __init__(self, db: Any, guard_id: str = GUARD_ID) -> None:
        self.db = db
        self.guard_id = guard_id
        self._ready = False

    def _exec(self, sql: str, *params: Any) -> Any:
        try:
            statement = self.db.prepare(sql)
            if params:
                statement = statement.bind(*params)
            return run_sync(statement.all() if sql.startswith("SELECT") else statement.run())
        except Exception as exc:
            raise StoreUnavailable(f"rollback guard unavailable ({type(exc).__name__})") from None

    def _ensure(self) -> None:
        if not self._ready:
            self._exec(self.SCHEMA)
            self._ready = True

    def high_water(self) -> int:
        self._ensure()
        rows = self._exec("SELECT high_water FROM guard WHERE id = ?", self.guard_id).results
        found = [int(row.high_water) for row in rows]
        return found[0] if found else 0

    def advance(self, generation: int) -> None:
        self._ensure()
        self._exec(
            "INSERT INTO guard (id, high_water) VALUES (?, ?) ON CONFLICT(id) "
            "DO UPDATE SET high_water = MAX(high_water, excluded.high_water)",
            self.guard_id,
            int(generation),
        )


# --- the entry -------------------------------------------------------------------------


def _answer(status: int, headers: dict[str, str], body: bytes) -> Any:
    if Response is _StandInResponse:
        return _StandInResponse(body, status, headers)
    return Response(body.decode(), status=status, headers=headers)


def _error(status: int, message: str, **extra: str) -> Any:
    return _answer(*entrypoint.error(status, message, **extra))


AFTER_THE_BUTTON = (
    "run `nwc-signer deploy cloudflare --existing-worker` (docs/cloudflare-deploy.md)"
)


def _config(env: Any) -> tuple[SignerConfig, Secrets]:
    """The settings, or ``NotConfigured`` naming what is wrong (never their values)."""
    root, watcher, wallet = (
        _text_or_none(getattr(env, name, None))
        for name in ("ROOT_SECRET", "WATCHER_PUBKEY", "WALLET_ID")
    )
    return entrypoint.settings(root, watcher, wallet, hint=AFTER_THE_BUTTON)


def _binding(env: Any, name: str) -> Any:
    value = getattr(env, name, None)
    return None if is_null(value) else value


def _text_or_none(value: Any) -> str | None:
    return None if is_null(value) else str(value)


class Default(WorkerEntrypoint):  # type: ignore[misc]
    """The Worker: POST / or /webhook with a signed delivery; GET /health."""

    async def fetch(self, request: Any) -> Any:
        try:
            raw = getattr(request, "js_object", request)
            path = str(importlib.import_module("js").URL.new(str(raw.url)).pathname)
            length = _text_or_none(raw.headers.get("content-length"))
            early = entrypoint.route(str(raw.method), path, length)
            if early is not None:
                return _answer(*early)
            body = bytes((await raw.arrayBuffer()).to_bytes())
            oversized = entrypoint.too_large(len(body))
            if oversized is not None:
                return _answer(*oversized)
            async with SERIAL:
                return _timed(lambda: self._deliver(raw, body))
        except Exception as exc:  # handle_webhook never raises; this is the last guard
            log.error("unexpected failure in the worker (%s)", type(exc).__name__)
            return _error(500, "internal error")

    def _deliver(self, raw: Any, body: bytes) -> WebhookResponse:
        guard_db = _binding(self.env, "GUARD")
        if guard_db is None:
            log.error("no GUARD (D1) binding: refusing to run without a rollback guard")
            return WebhookResponse(503, message="not configured: no rollback guard")
        try:
            config, secrets = _config(self.env)
        except entrypoint.NotConfigured as exc:
            log.error("%s", exc)
            return WebhookResponse(503, message=str(exc))
        headers = {str(k): str(v) for k, v in raw.headers.entries()}
        return handle_webhook(
            WebhookRequest(headers, body),
            store=R2Store(self.env.STATE, STATE_KEY, run_sync),
            guard=D1GenerationGuard(guard_db),
            secrets=secrets,
            config=config,
            wallet_hook=with_js_fetch,
        )


def _timed(deliver: Callable[[], WebhookResponse]) -> Any:
    """The answer with a ``Server-Timing`` header: Python busy time and I/O wait (ms)."""
    started, waited = time.perf_counter(), IoClock.waited_s
    response = deliver()
    wall = time.perf_counter() - started
    io = IoClock.waited_s - waited
    status, headers, body = encode_response(response)
    timing = f"python;dur={(wall - io) * 1000:.2f}, io;dur={io * 1000:.2f}"
    return _answer(status, {**headers, "Server-Timing": timing}, body)
