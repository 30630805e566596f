"""Breez/Spark webhooks → an immediate wake-up of the wallet's function.

POST /v1/hooks/spark/{wallet}/{token}

A Spark wallet registers this URL with the Breez service provider
(``signer_core.wallets.spark.hook``), which POSTs when a Lightning receive or send
finishes. ``token`` is the wallet's signature over the path
(``signer_core.protocol.sparkhook``): checked against a wallet registered here, with no
table of our own. The body is not read beyond a size limit and never forwarded: a hook
only means "look now", and the wake-up's sync is the only thing the function believes.

Bursts coalesce: the first hook of a wallet queues a wake job at once (one pending per
wallet, ``wake:<wallet>``); further hooks within ``COALESCE_S`` only make sure a wake-up
follows that window (a payment that lands while the first wake-up runs is still seen).
Rate-limited per wallet, and per client address for hooks with a wrong token. Every refusal
is a 4xx; 503 only when the database is away (the service provider retries).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from relay_watcher.db import DatabaseUnavailable
from relay_watcher.limits import TokenBuckets
from signer_core.protocol.sparkhook import verify_token

if TYPE_CHECKING:
    from relay_watcher.service import Watcher

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
COALESCE_S = 5
PER_WALLET_PER_MIN = 30.0
PER_CLIENT_PER_MIN = 120.0  # hooks with a wrong token, per client address
HEX = frozenset("0123456789abcdef")


def _answer(status: int, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)


class SparkHooks:
    """Turns verified hooks into wake-ups; state is per replica and in memory only."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.per_wallet = TokenBuckets(PER_WALLET_PER_MIN / 60, PER_WALLET_PER_MIN / 6)
        self.per_client = TokenBuckets(PER_CLIENT_PER_MIN / 60, PER_CLIENT_PER_MIN / 6)
        self.last_wake: dict[str, float] = {}  # wallet -> when this replica last woke it

    def _limited(self, limits: TokenBuckets, key: str, now: float) -> Response | None:
        wait = limits.take(key, now)
        if wait <= 0:
            return None
        retry = max(1, int(wait + 0.999))
        return _answer(429, f"too many hooks; retry in {retry} s", retry)

    async def handle(self, wallet: str, token: str, request: Request) -> Response:
        now = time.time()
        if not (len(wallet) == 64 and set(wallet) <= HEX and verify_token(wallet, token)):
            # only failures count against an address: the service provider posts the hooks
            # of every wallet from a few addresses, and must never be throttled for them
            client = request.client.host if request.client else ""
            refused = self._limited(self.per_client, client, now)
            return refused or _answer(404, "no such hook")  # as if the path did not exist
        refused = self._limited(self.per_wallet, wallet, now)
        if refused is not None:
            return refused
        try:
            size = 0
            async for chunk in request.stream():  # drained, bounded, never parsed
                size += len(chunk)
                if size > MAX_BODY:
                    return _answer(413, "body too large")
        except ClientDisconnect:
            return _answer(400, "client disconnected before the body was complete")
        db = self.watcher.db
        try:
            if db.registry.wallet(wallet) is None:
                return _answer(404, "no such hook")
            if db.tenants.is_suspended(wallet):  # the operator stopped serving it
                return _answer(403, "this wallet is suspended at this watcher")
            last = self.last_wake.get(wallet, 0.0)
            if now - last < COALESCE_S:
                db.wakes.set_wake(wallet, int(last) + COALESCE_S)
                return _answer(202, "coalesced: a wake-up follows shortly")
            db.wakes.wake_now(wallet, int(now))
        except DatabaseUnavailable:
            return _answer(503, "database unavailable; retry later", 5)
        self._remember(wallet, now)
        self.watcher.dispatcher.kick.set()  # deliver now, not at the next poll
        log.info("spark hook: wake-up queued for wallet %s…", wallet[:12])
        return _answer(202, "wake-up queued")

    def _remember(self, wallet: str, now: float) -> None:
        self.last_wake[wallet] = now
        if len(self.last_wake) > 100_000:  # forget the oldest half
            for key in sorted(self.last_wake, key=self.last_wake.__getitem__)[:50_000]:
                del self.last_wake[key]


def router(watcher: Watcher) -> APIRouter:
    """The hook route, mounted by relay_watcher.api.create_app."""
    hooks = SparkHooks(watcher)
    api = APIRouter()

    @api.post(
        "/v1/hooks/spark/{wallet}/{token}",
        summary="Breez/Spark webhook: wake the wallet now",
        status_code=202,
        responses={
            403: {"description": "the wallet is suspended here"},
            404: {"description": "unknown wallet or a token that is not the wallet's"},
            413: {"description": "body too large"},
            429: {"description": "too many hooks (Retry-After)"},
            503: {"description": "database unavailable (retry)"},
        },
    )
    async def spark_hook(wallet: str, token: str, request: Request) -> Response:
        return await hooks.handle(wallet, token, request)

    return api
