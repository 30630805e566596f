"""The Deno entry's Python side (Deno Deploy, Pyodide): a thin adapter around
``signer_core.pipeline.handle_webhook``, like ``functions/cloudflare/worker.py``.

``main.ts`` loads Pyodide once per instance, imports this module at start-up and awaits
``handle(request, env)`` for each HTTP request; the answer is ``(status, headers, body)``.
``env`` carries the ``Deno.Kv`` (``KV``, null when none could be opened) and the settings
from ``Deno.env``: ``ROOT_SECRET`` (64 hex), ``WATCHER_PUBKEY`` (64 hex), ``WALLET_ID``.
Missing or malformed settings, or no KV, answer 503 "not configured" (the watcher retries
later; nothing is read or written), never a 500.

The core is synchronous; its I/O (KV, the mint's HTTP) blocks on JS promises with
``pyodide.ffi.run_sync`` (JSPI, on by default in Deno 2.9's V8), which needs this async
entry. One delivery at a time per instance (``SERIAL``): two cores suspended in
``run_sync`` at once crashed Pyodide on the Cloudflare path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import json
import logging
import time
from typing import Any

from signer_core import entrypoint
from signer_core.jsffi import is_null, run_sync, with_js_fetch
from signer_core.pipeline import SignerConfig, WebhookRequest, handle_webhook
from signer_core.protocol import seed as seed_call
from signer_core.protocol.text import BadJson, loads
from signer_core.protocol.webhook import encode_response
from signer_core.session import Secrets
from signer_core.stores.base import StoreError, VersionConflict
from signer_core.stores.deno_kv import DenoKvGuard, DenoKvStore
from signer_core.vault.sealed import VaultError
from signer_core.vault.sealed import parse as parse_sealed

log = logging.getLogger("nwc_signer.deno")

# Everything a delivery may import, imported with this module at the instance's start-up,
# so no request imports while another is suspended in run_sync (worker.py's PRELOAD).
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

SERIAL = asyncio.Lock()
SEED_PATH = seed_call.PATH  # the deploy command's one-time KV seeding
Answer = entrypoint.Answer


_error = entrypoint.error


def _setting(env: Any, name: str) -> str | None:
    value = getattr(env, name, None)
    return None if is_null(value) else str(value)


def configure(env: Any) -> tuple[SignerConfig, Secrets] | str:
    """The signer's settings, or why they are unusable (names only, never values)."""
    try:
        return entrypoint.settings(
            _setting(env, "ROOT_SECRET"), _setting(env, "WATCHER_PUBKEY"),
            _setting(env, "WALLET_ID"), hint="set it in the app's environment variables",
        )  # fmt: skip
    except entrypoint.NotConfigured as exc:
        return str(exc)


async def handle(request: Any, env: Any) -> Answer:
    """One HTTP request (a JS ``Request``) -> (status, headers, body). Never raises."""
    try:
        path = str(importlib.import_module("js").URL.new(str(request.url)).pathname)
        header = request.headers.get("content-length")
        length = None if is_null(header) else str(header)
        early = entrypoint.route(str(request.method), path, length, extra_paths=(SEED_PATH,))
        if early is not None:
            return early
        body = bytes((await request.arrayBuffer()).to_bytes())
        oversized = entrypoint.too_large(len(body))
        if oversized is not None:
            return oversized
        headers = {str(k): str(v) for k, v in request.headers.entries()}
        async with SERIAL:
            if path == SEED_PATH:
                return seed(headers, body, env)
            return deliver(headers, body, env)
    except Exception as exc:  # handle_webhook never raises; this is the last guard
        log.error("unexpected failure in the Deno entry (%s)", type(exc).__name__)
        return _error(500, "internal error")


def deliver(headers: dict[str, str], body: bytes, env: Any) -> Answer:
    settings = configure(env)
    if isinstance(settings, str):
        log.error("refusing deliveries: %s", settings)
        return _error(503, settings)
    kv = getattr(env, "KV", None)
    if is_null(kv):
        log.error("refusing deliveries: no Deno KV database")
        return _error(503, "not configured: no Deno KV database")
    config, secrets = settings
    response = handle_webhook(
        WebhookRequest(headers, body),
        store=DenoKvStore(kv, run_sync),
        guard=DenoKvGuard(kv, run_sync),
        secrets=secrets,
        config=config,
        wallet_hook=with_js_fetch,
    )
    return encode_response(response)


def _json(status: int, value: dict[str, Any]) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def seed(headers: dict[str, str], body: bytes, env: Any) -> Answer:
    """POST /_nwc/seed: the wallet's first sealed blob, create-only, MAC'd with a key derived
    from ROOT_SECRET (the contract and its answers: signer_core/protocol/seed.py)."""
    settings = configure(env)
    if isinstance(settings, str):
        return _error(503, settings)
    config, secrets = settings
    kv = getattr(env, "KV", None)
    if is_null(kv):
        return _json(503, {"error": "kv_unavailable"})
    header = headers.get(seed_call.HEADER.lower())
    if not seed_call.verify(secrets.root_secret, config.wallet_id, header, body, int(time.time())):
        return _json(401, {"error": "unauthorized"})
    try:
        doc = loads(body)
        blob = base64.b64decode(str(doc["blob"]), validate=True)
        sealed = parse_sealed(blob)
        if doc["wallet_id"] != config.wallet_id or sealed.wallet_id != config.wallet_id:
            raise ValueError("another wallet")
    except (BadJson, KeyError, TypeError, ValueError, binascii.Error, VaultError):
        return _json(400, {"error": "bad seed"})
    store, guard = DenoKvStore(kv, run_sync), DenoKvGuard(kv, run_sync)
    try:
        for _ in range(2):
            found = store.read()
            if found is not None:
                try:
                    there = parse_sealed(found[0])
                except VaultError:
                    return _json(409, {"error": "another wallet"})
                if there.wallet_id != config.wallet_id:
                    return _json(409, {"error": "another wallet"})
                return _json(200, {"state": "exists", "generation": there.generation})
            try:
                store.write(blob, None)
            except VersionConflict:
                continue  # written meanwhile: answer from what is there
            guard.advance(sealed.generation)
            return _json(201, {"state": "written", "generation": sealed.generation})
    except StoreError:
        return _json(503, {"error": "kv_unavailable"})
    return _json(503, {"error": "kv_unavailable"})
