"""The request pipeline: one webhook delivery in, (HTTP status, events, wake_at) out.

A pure function of (webhook request, store, secrets, clock) so every platform entry point
(local HTTP server, AWS Lambda, later Cloudflare) is a thin adapter around `handle_webhook`.
Steps, in order (ARCHITECTURE.md):
  1 verify the watcher's signature          -> 401 before touching storage
  2 verify the Nostr event                  -> 400; expired requests are ignored (200)
  3 read the sealed state + its version     -> 404 if no wallet / unknown service pubkey
  4 unwrap the data key for this client     -> UNAUTHORIZED reply for strangers
  5 decrypt, check policy, look up the ledger (done -> same reply again)
  6 sync the backend if something is pending, run the method
  7 seal + compare-and-swap the new state   -> on conflict re-run on the fresh state
  8 return the signed reply and notifications, and when to wake us next
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from signer_core.protocol.events import Event, InvalidEvent, tag_value, verify_event
from signer_core.protocol.nip47 import REQUEST_KIND
from signer_core.protocol.webhook import (
    BadDelivery,
    WebhookAuthError,
    WebhookResponse,
    parse_delivery,
    verify_delivery,
)
from signer_core.session import NoWallet, Secrets
from signer_core.stores.base import GenerationGuard, StateStore, StoreUnavailable, VersionConflict
from signer_core.vault.sealed import VaultError

log = logging.getLogger("nwc_signer.pipeline")

__all__ = ["SignerConfig", "Secrets", "WebhookRequest", "WebhookResponse", "handle_webhook"]


@dataclass
class SignerConfig:
    wallet_id: str
    watcher_pubkey: str
    freshness_s: int = 300  # pay/make_invoice requests older (or newer) than this are refused
    ledger_retention_s: int = 86400  # done requests are remembered this long (>> freshness)
    max_attempts: int = 4  # compare-and-swap retries before answering 409
    pending_retry_s: int = 5  # Retry-After while a payment is in flight
    wallet_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class WebhookRequest:
    headers: Mapping[str, str]
    body: bytes


class Reject(Exception):
    """End the delivery with a non-2xx status and a message for the watcher's logs."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class Deps:
    store: StateStore
    guard: GenerationGuard
    secrets: Secrets
    config: SignerConfig


def handle_webhook(
    request: WebhookRequest,
    *,
    store: StateStore,
    guard: GenerationGuard,
    secrets: Secrets,
    config: SignerConfig,
    clock: Callable[[], float] = time.time,
) -> WebhookResponse:
    """Handle one delivery. Never raises: every failure becomes a status and a message."""
    started = time.perf_counter()
    now = int(clock())
    deps = Deps(store, guard, secrets, config)
    try:
        verify_delivery(request.headers, request.body, config.watcher_pubkey, now)
        delivery = parse_delivery(request.body)
        if delivery.type == "wake":
            from signer_core.wake import handle_wake

            response = _with_retries(lambda: handle_wake(deps, now), config)
        else:
            event = _request_event(delivery.event, now)
            if event is None:
                response = WebhookResponse(200, message="request expired; ignored")
            else:
                from signer_core.request import handle_request

                response = _with_retries(lambda: handle_request(deps, event, now), config)
    except WebhookAuthError as exc:
        response = WebhookResponse(401, message=str(exc))
    except BadDelivery as exc:
        response = WebhookResponse(400, message=str(exc))
    except Reject as exc:
        response = WebhookResponse(exc.status, message=exc.message, retry_after=exc.retry_after)
    except NoWallet as exc:
        response = WebhookResponse(404, message=str(exc))
    except StoreUnavailable as exc:
        response = WebhookResponse(503, message=f"state store unavailable: {exc}", retry_after=5)
    except VaultError as exc:
        log.error("sealed state refused: %s", exc)
        response = WebhookResponse(500, message=f"sealed state refused: {exc}")
    except Exception:
        log.exception("unexpected failure handling a delivery")
        response = WebhookResponse(500, message="internal error")
    ms = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        "delivery handled: status=%d events=%d ms=%.1f %s",
        response.status,
        len(response.events),
        ms,
        response.message,
        extra={"status": response.status, "events": len(response.events), "ms": ms},
    )
    return response


def _request_event(raw: dict[str, Any] | None, now: int) -> Event | None:
    """Verify the Nostr event; None for a request past its expiration (no work, no reply)."""
    try:
        event = verify_event(raw)
    except InvalidEvent as exc:
        raise Reject(400, f"invalid event: {exc}") from None
    if event["kind"] != REQUEST_KIND:
        raise Reject(400, f"event kind {event['kind']} is not an NWC request ({REQUEST_KIND})")
    service = tag_value(event, "p")
    if service is None or len(service) != 64:
        raise Reject(400, "request has no valid p tag (wallet-service pubkey)")
    expiration = tag_value(event, "expiration")
    if expiration is not None:
        if not expiration.isdigit():
            raise Reject(400, "expiration tag is not a unix timestamp")
        if int(expiration) <= now:
            return None
    return event


def _with_retries(attempt: Callable[[], WebhookResponse], config: SignerConfig) -> WebhookResponse:
    """Re-run an attempt on fresh state when another writer won the compare-and-swap."""
    for n in range(config.max_attempts):
        try:
            return attempt()
        except VersionConflict:
            log.info("state changed underneath; retrying", extra={"attempt": n + 1})
    raise Reject(409, "wallet state is busy; retry soon", retry_after=1)
