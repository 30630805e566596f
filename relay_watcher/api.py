"""The watcher's HTTP API (FastAPI, so /openapi.json documents it).

PUT  /v1/wallets             register or update a wallet (signed, relay_watcher/registration.py)
POST /v1/wallets/unregister  remove a wallet (signed)
GET  /v1/watcher             the watcher's public key (what a signer function is configured with)
GET  /health                 liveness and a summary (200 while the process runs)
GET  /ready                  readiness: 503 while the database is away or the heartbeat late
GET  /metrics                Prometheus metrics

Registration bodies are read raw: the signature covers the exact bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import ClientDisconnect

from relay_watcher import hooks, lnurl
from relay_watcher.service import Watcher

MAX_BODY = 256 * 1024

_SIGNED = {
    "parameters": [
        {"name": "X-Nwc-Timestamp", "in": "header", "required": True,
         "schema": {"type": "string"}, "description": "unix seconds of signing"},
        {"name": "X-Nwc-Signature", "in": "header", "required": True,
         "schema": {"type": "string"},
         "description": "hex BIP-340 signature by the wallet's registration key of "
                        "SHA-256('nwc-signer/register/v1' \\n timestamp \\n body)"},
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["wallet_pubkey"],
        "properties": {
            "action": {"type": "string", "enum": ["register", "unregister"]},
            "wallet_pubkey": {"type": "string", "description": "registration key, x-only hex"},
            "function_url": {"type": "string", "description": "the signer function's URL"},
            "relays": {"type": "array", "items": {"type": "string"}},
            "service_keys": {"type": "array", "items": {"type": "object", "properties": {
                "pubkey": {"type": "string"},
                "proof": {"type": "string", "description": "service key's signature of "
                          "SHA-256('nwc-signer/register-key/v1' \\n wallet_pubkey)"}}}},
        }}}}},
    "responses": {"400": {"description": "malformed, or a function_url the watcher refuses "
                                          "(private, loopback, link-local... addresses)"},
                  "401": {"description": "bad or stale signature"},
                  "403": {"description": "the wallet is suspended by the operator"},
                  "409": {"description": "replay, stale update, or key of another wallet"},
                  "422": {"description": "the function URL did not prove it is this wallet's "
                                          "(unreachable, timeout, wrong key): the challenge"},
                  "429": {"description": "too many registrations (Retry-After)"}},
}  # fmt: skip


def create_app(watcher: Watcher) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await watcher.start()
        try:
            yield
        finally:
            await watcher.stop()

    app = FastAPI(
        title="nwc-signer relay-watcher",
        version="1",
        description="Wakes serverless NWC signer functions for requests seen on Nostr relays.",
        lifespan=lifespan,
    )

    async def _signed(request: Request) -> Response:
        try:
            body = await _read_body(request)
        except ClientDisconnect:  # answered to nobody, but no traceback in the server's log
            gone = "client disconnected before the body was complete"
            return JSONResponse({"message": gone}, status_code=400)
        if body is None:
            return JSONResponse({"message": "body too large"}, status_code=413)
        client = request.client.host if request.client else ""
        status, answer = await watcher.register(dict(request.headers), body, client)
        retry = answer.get("retry_after")
        headers = {"Retry-After": str(retry)} if status == 429 and retry else None
        return JSONResponse(answer, status_code=status, headers=headers)

    @app.put("/v1/wallets", openapi_extra=_SIGNED, summary="Register or update a wallet")
    async def register(request: Request) -> Response:
        return await _signed(request)

    @app.post("/v1/wallets/unregister", openapi_extra=_SIGNED, summary="Unregister a wallet")
    async def unregister(request: Request) -> Response:
        return await _signed(request)

    @app.get("/v1/watcher", summary="The watcher's public key")
    async def info() -> dict[str, Any]:
        return {"watcher_pubkey": watcher.pubkey}

    @app.get("/health", summary="Liveness and a summary")
    async def health() -> Response:
        body = await watcher.health()
        return JSONResponse(body, status_code=200 if body["ok"] else 503)

    @app.get("/ready", summary="Readiness (database reachable, heartbeat current)")
    async def ready() -> Response:
        ok, body = watcher.ready()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        watcher.refresh_gauges()
        return Response(generate_latest(watcher.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    lnurl.mount(app, watcher)  # lightning addresses: /.well-known/lnurlp/<name>, claims
    app.include_router(hooks.router(watcher))  # Breez webhooks: POST /v1/hooks/spark/...
    return app


async def _read_body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY (read no further: a huge body is not buffered)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
