"""Lightning addresses (LUD-16) with zaps (NIP-57) for registered wallets, no always-on wallet.

POST /v1/lightning-address          claim or release a name (signed by the registration key;
                                    the claim and its table: lnurl_claims.py)
GET  /.well-known/lnurlp/<name>      the LNURL-pay parameters (LUD-06)
GET  /lnurlp/<name>/callback         amount (+ nostr zap request, comment) -> {"pr": bolt11}

A callback becomes a signed `invoice` delivery to the wallet's function, sent at once and
answered within `timeout_s` (payers wait seconds, not minutes: a cold start is the cost, see
docs/lightning-address.md). The function answers with a bolt11 or a reason; nothing is queued
or retried (the payer asks again). Zap receipts (kind 9735) come back later in a wake-up's
answer; the publisher also sends them to the relays of the zap request they carry.

Every refusal is LUD-06's `{"status": "ERROR", "reason": ...}` with a 4xx (bad input, unknown
name, rate limit) or a 502/504 (the function could not answer): never a 500.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relay_watcher import urls
from relay_watcher.db import DatabaseUnavailable
from relay_watcher.limits import TokenBuckets
from relay_watcher.lnurl_claims import (
    MAX_BODY,
    NAME,
    AddressBook,
    Refused,
    build_claim,
    check_name,
    verify_claim,
)
from relay_watcher.service import Watcher
from signer_core.protocol import zaps
from signer_core.protocol.bolt11 import InvalidInvoice, decode
from signer_core.protocol.text import parse_uint
from signer_core.protocol.webhook import invoice_delivery, parse_response, signed_delivery

log = logging.getLogger("relay_watcher.lnurl")

__all__ = ["LightningAddresses", "Refused", "build_claim", "check_name", "mount"]

PUBLIC_URL_ENV = "NWC_WATCHER_PUBLIC_URL"
COMMENT_ALLOWED = 255


# --- the service ------------------------------------------------------------------------


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"status": "ERROR", "reason": reason}, status_code=status)


class LightningAddresses:
    """The claims, the LNURL-pay endpoints and the zap receipts' extra relays of one replica."""

    def __init__(self, watcher: Watcher, *, public_url: str = "", timeout_s: float = 20.0) -> None:
        self.watcher = watcher
        self.book = AddressBook(watcher.db.base)
        self.public_url = public_url.rstrip("/")
        self.timeout_s = timeout_s
        self.claims = TokenBuckets(rate_per_s=1 / 60, burst=5)  # per wallet
        self.claimants = TokenBuckets(rate_per_s=1 / 6, burst=30)  # per client address
        self.callbacks = TokenBuckets(rate_per_s=1.0, burst=10)  # per name
        self.lookups = TokenBuckets(rate_per_s=5.0, burst=50)  # per client address
        allow_private = watcher.config.allow_private_function_urls
        limits = httpx.Limits(max_connections=64)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            follow_redirects=False,
            trust_env=False,
            transport=None if allow_private else urls.GuardedTransport(limits),
        )

    def base(self, request: Request) -> str:
        return self.public_url or str(request.base_url).rstrip("/")

    @staticmethod
    def identifier(name: str, base: str) -> str:
        return f"{name}@{urlsplit(base).netloc}"

    def metadata(self, name: str, base: str) -> str:
        """LUD-06 metadata; the same text on every replica for the same public URL (its hash
        is the invoice's description hash)."""
        address = self.identifier(name, base)
        return json.dumps([["text/plain", f"Pay to {address}"], ["text/identifier", address]])

    # claims

    async def claim(self, headers: dict[str, str], body: bytes, client: str) -> JSONResponse:
        now = int(time.time())
        try:
            fields, sig = verify_claim(headers, body, now)
            wallet = fields["wallet_pubkey"]
            now_f = time.time()
            if self.claimants.take(client, now_f) > 0 or self.claims.take(wallet, now_f) > 0:
                raise Refused(429, "too many claims; try again in a minute")
            if self.watcher.db.registry.wallet(wallet) is None:
                raise Refused(404, "this wallet is not registered with the watcher")
            if fields["action"] == "release":
                return JSONResponse({"released": self.book.release(wallet, sig, now)})
            self.book.claim(fields, sig, now)
        except Refused as exc:
            return JSONResponse({"message": exc.reason}, status_code=exc.status)
        except DatabaseUnavailable:
            return JSONResponse({"message": "database unavailable; retry shortly"}, 503)
        except Exception:  # e.g. the wallet removed under the claim: no 500, no traceback out
            log.exception("claim failed")
            return JSONResponse({"message": "the claim could not be stored; retry"}, 503)
        base = self.public_url or ""
        log.info("wallet %s… claimed a lightning address", wallet[:12])
        return JSONResponse({"name": fields["name"], "nostr_pubkey": fields["nostr_pubkey"],
                             "domain": urlsplit(base).netloc if base else None})  # fmt: skip

    # LNURL-pay

    def _served(self, name: str, client: str) -> tuple[str, str]:
        if self.lookups.take(client, time.time()) > 0:
            raise Refused(429, "too many requests; try again shortly")
        name = name.lower()
        if not NAME.fullmatch(name):
            raise Refused(404, "no such lightning address")
        try:
            found = self.book.lookup(name)
        except DatabaseUnavailable:
            raise Refused(503, "the lightning address service is unavailable; try again") from None
        if found is None:
            raise Refused(404, "no such lightning address")
        return found

    async def pay_request(self, name: str, request: Request) -> JSONResponse:
        try:
            _, nostr_pubkey = self._served(name, _client(request))
        except Refused as exc:
            return _error(exc.status, exc.reason)
        except Exception:  # never a 500 to a payer
            log.exception("lightning address look-up failed")
            return _error(503, "the lightning address service failed; try again")
        name, base = name.lower(), self.base(request)
        return JSONResponse({
            "tag": "payRequest",
            "callback": f"{base}/lnurlp/{name}/callback",
            "minSendable": zaps.MIN_SENDABLE_MSAT,
            "maxSendable": zaps.MAX_SENDABLE_MSAT,
            "metadata": self.metadata(name, base),
            "commentAllowed": COMMENT_ALLOWED,
            "allowsNostr": True,
            "nostrPubkey": nostr_pubkey,
        })  # fmt: skip

    async def callback(self, name: str, request: Request) -> JSONResponse:
        try:
            wallet, _ = self._served(name, _client(request))
            name, base = name.lower(), self.base(request)
            amount, zap, comment = self._params(request)
            if self.callbacks.take(name, time.time()) > 0:
                raise Refused(429, "too many invoice requests for this address; try again")
            pr = await self._invoice(wallet, name, base, amount, zap, comment)
        except Refused as exc:
            return _error(exc.status, exc.reason)
        except Exception:  # never a 500 to a payer
            log.exception("invoice request for %s failed", name)
            return _error(503, "the lightning address service failed; try again")
        return JSONResponse({"pr": pr, "routes": []})

    @staticmethod
    def _params(request: Request) -> tuple[int, zaps.ZapRequest | None, str | None]:
        query = request.query_params
        amount = parse_uint(query.get("amount", ""), max_digits=19)
        if amount is None:
            raise Refused(400, "amount (millisatoshis) is required")
        if not zaps.MIN_SENDABLE_MSAT <= amount <= zaps.MAX_SENDABLE_MSAT:
            raise Refused(400, f"amount must be between {zaps.MIN_SENDABLE_MSAT} and "
                               f"{zaps.MAX_SENDABLE_MSAT} millisatoshis")  # fmt: skip
        comment = query.get("comment") or None
        if comment is not None and len(comment) > COMMENT_ALLOWED:
            raise Refused(400, f"comment longer than {COMMENT_ALLOWED} characters")
        zap = None
        if query.get("nostr"):
            try:
                zap = zaps.check_zap_request(query["nostr"], amount)
            except zaps.BadZapRequest as exc:
                raise Refused(400, str(exc)) from None
        return amount, zap, comment

    async def _invoice(
        self,
        wallet_pubkey: str,
        name: str,
        base: str,
        amount: int,
        zap: zaps.ZapRequest | None,
        comment: str | None,
    ) -> str:
        """Wake the function with an invoice delivery; its bolt11, or Refused."""
        wallet = self.watcher.db.registry.wallet(wallet_pubkey)
        if wallet is None:
            raise Refused(404, "no such lightning address")
        delivery = invoice_delivery(
            amount,
            self.metadata(name, base),
            zap_request=zap.event if zap is not None else None,
            comment=comment,
            address=self.identifier(name, base),
            delivery_id=f"lnurl-{secrets.token_hex(8)}",
        )
        headers, body = signed_delivery(delivery, self.watcher.dispatcher._secret, int(time.time()))
        try:
            res = await self.http.post(urls.parse(wallet.function_url), content=body,
                                       headers=headers)  # fmt: skip
        except urls.UrlRefused as exc:
            log.warning("invoice request for %s not sent: %s", name, exc)
            raise Refused(502, "the wallet cannot be reached") from None
        except httpx.TimeoutException:
            raise Refused(504, "the wallet did not answer in time; try again") from None
        except httpx.HTTPError as exc:
            log.info("invoice request for %s failed: %s", name, type(exc).__name__)
            raise Refused(502, "the wallet cannot be reached right now; try again") from None
        answer = parse_response(res.status_code, res.headers, res.content[:65536])
        if answer.status != 200 or answer.invoice is None:
            log.info("invoice request for %s answered %d: %s", name, answer.status,
                     answer.message)  # fmt: skip
            raise Refused(502, "the wallet could not make an invoice right now; try again")
        if "reason" in answer.invoice:
            raise Refused(400, answer.invoice["reason"])
        pr = answer.invoice["pr"]
        try:
            if decode(pr).amount_msat != amount:
                raise Refused(502, "the wallet's invoice is for a different amount")
        except InvalidInvoice:
            raise Refused(502, "the wallet returned an invalid invoice") from None
        if answer.wake_at is not None:  # so the payment is noticed while the function sleeps
            with contextlib.suppress(DatabaseUnavailable):
                self.watcher.db.wakes.set_wake(wallet_pubkey, answer.wake_at)
        return pr

    # zap receipts

    def receipt_publisher(
        self, publish: Callable[[dict[str, Any], list[str]], Awaitable[bool]]
    ) -> Callable[[dict[str, Any], list[str]], Awaitable[bool]]:
        """`publish`, but a zap receipt of one of our addresses also goes to the relays its
        zap request named (those the watcher may reach; they stay connected until the next
        re-plan of subscriptions)."""

        async def publish_receipts(event: dict[str, Any], targets: list[str]) -> bool:
            extra = [r for r in zaps.receipt_relays(event) if r not in targets]
            if extra and self.book.is_zap_key(str(event.get("pubkey", ""))):
                extra = [r for r in extra if await self._reachable(r)]
                pool = self.watcher.pool
                await pool.ensure_relays(pool.relays | set(extra))
                targets = [*targets, *extra]
            return await publish(event, targets)

        return publish_receipts

    async def _reachable(self, relay: str) -> bool:
        if self.watcher.config.allow_private_function_urls:
            return True
        parts = urlsplit(relay)
        try:
            addresses = await urls.resolve(parts.hostname or "", parts.port or 443)
            urls.check_addresses(parts.hostname or "", addresses)
        except (OSError, urls.UrlRefused, ValueError):
            return False
        return True

    async def close(self) -> None:
        await self.http.aclose()


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def mount(app: FastAPI, watcher: Watcher) -> LightningAddresses:
    """Add the lightning-address routes to the watcher's app (relay_watcher/api.py)."""
    service = LightningAddresses(watcher, public_url=os.environ.get(PUBLIC_URL_ENV, ""))
    watcher.dispatcher.publish_event = service.receipt_publisher(watcher.dispatcher.publish_event)

    @app.post("/v1/lightning-address", summary="Claim or release a lightning address (signed)")
    async def claim(request: Request) -> JSONResponse:
        chunks, size = [], 0
        async for chunk in request.stream():  # not buffered past MAX_BODY
            size += len(chunk)
            if size > MAX_BODY:
                return JSONResponse({"message": "body too large"}, status_code=413)
            chunks.append(chunk)
        body = b"".join(chunks)
        return await service.claim(dict(request.headers), body, _client(request))

    @app.get("/.well-known/lnurlp/{name}", summary="LNURL-pay parameters (LUD-06, LUD-16)")
    async def pay_request(name: str, request: Request) -> JSONResponse:
        return await service.pay_request(name, request)

    @app.get("/lnurlp/{name}/callback", summary="LNURL-pay callback: an invoice (NIP-57 zaps)")
    async def callback(name: str, request: Request) -> JSONResponse:
        return await service.callback(name, request)

    return service
