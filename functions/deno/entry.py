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

from signer_core.jsffi import is_null, run_sync, with_js_fetch
from signer_core.pipeline import SignerConfig, WebhookRequest, WebhookResponse, handle_webhook
from signer_core.protocol import seed as seed_call
from signer_core.protocol.text import BadJson, loads, parse_uint
from signer_core.protocol.webhook import MAX_BODY_BYTES, encode_response
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
WEBHOOK_PATHS = ("/", "/webhook")
SEED_PATH = seed_call.PATH  # the deploy command's one-time KV seeding
ALLOW = "GET, HEAD, POST"
HEX = frozenset("0123456789abcdefABCDEF")
Answer = tuple[int, dict[str, str], bytes]


def _error(status: int, message: str, **extra: str) -> Answer:
    status_, headers, body = encode_response(WebhookResponse(status, message=message))
    return status_, {**headers, **extra}, body


def _setting(env: Any, name: str) -> str:
    value = getattr(env, name, None)
    return "" if is_null(value) else str(value).strip()


def _hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in HEX for c in value)


def configure(env: Any) -> tuple[SignerConfig, Secrets] | str:
    """The signer's settings, or why they are unusable (names only, never values)."""
    root, watcher, wallet = (
        _setting(env, n) for n in ("ROOT_SECRET", "WATCHER_PUBKEY", "WALLET_ID")
    )
    bad = [name for name, ok in (("ROOT_SECRET", _hex(root, 64)),
                                 ("WATCHER_PUBKEY", _hex(watcher, 64)),
                                 ("WALLET_ID", bool(wallet))) if not ok]  # fmt: skip
    if bad:
        return f"not configured: {', '.join(bad)} missing or malformed"
    return (
        SignerConfig(wallet_id=wallet, watcher_pubkey=watcher.lower()),
        Secrets(root_secret=bytes.fromhex(root)),
    )


def route(method: str, path: str, content_length: str | None) -> Answer | None:
    """Everything that is not a webhook delivery, answered before reading a body."""
    if method in ("GET", "HEAD"):
        if path == "/health":
            return 200, {"Content-Type": "application/json"}, b'{"ok":true}'
        return _error(404, "not found")
    if method != "POST":
        return _error(405, f"method {method} not allowed", Allow=ALLOW)
    if path not in WEBHOOK_PATHS and path != SEED_PATH:
        return _error(404, "not found")
    length = parse_uint(content_length)
    if length is not None and length > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return None


async def handle(request: Any, env: Any) -> Answer:
    """One HTTP request (a JS ``Request``) -> (status, headers, body). Never raises."""
    try:
        path = str(importlib.import_module("js").URL.new(str(request.url)).pathname)
        header = request.headers.get("content-length")
        early = route(str(request.method), path, None if is_null(header) else str(header))
        if early is not None:
            return early
        body = bytes((await request.arrayBuffer()).to_bytes())
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
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
