"""The request pipeline: one webhook delivery in, (HTTP status, events, wake_at) out.

A pure function of (webhook request, store, secrets, clock) so every platform entry point
(local HTTP server, AWS Lambda, later Cloudflare and Deno) is a thin adapter around
`handle_webhook`. Steps, in order (ARCHITECTURE.md):
  1 verify the watcher's signature          -> 401 before touching storage
  2 verify the Nostr event                  -> 400; expired requests are ignored (200)
  3 read the sealed state + its version     -> 404 if no wallet / unknown service pubkey
  4 unwrap the data key for this client     -> UNAUTHORIZED reply for strangers
  5 decrypt, check policy, look up the ledger (done -> same reply again)
  6 sync the backend if something is pending, run the method
  7 seal + compare-and-swap the new state   -> on conflict re-run on the fresh state
  8 return the signed reply and notifications, and when to wake us next
Steps 3-8 are `request.handle_request` (an NWC request) or `wake.handle_wake` (a scheduled
wake-up) or `invoice_request.handle_invoice` (a lightning address's invoice request); what
they share is `attempt.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from signer_core.attempt import Deps, Reject, SignerConfig, WalletHook
from signer_core.protocol.events import Event, InvalidEvent, tag_value, verify_event
from signer_core.protocol.nip47 import REQUEST_KIND
from signer_core.protocol.text import parse_uint
from signer_core.protocol.webhook import (
    BadDelivery,
    Delivery,
    WebhookAuthError,
    WebhookResponse,
    parse_delivery,
    verify_delivery,
)
from signer_core.session import NoWallet, Secrets
from signer_core.stores.base import GenerationGuard, StateStore, StoreUnavailable, VersionConflict
from signer_core.vault.sealed import VaultError

log = logging.getLogger("nwc_signer.pipeline")

__all__ = [
    "Secrets",
    "SignerConfig",
    "WebhookRequest",
    "WebhookResponse",
    "handle_delivery",
    "handle_webhook",
]


@dataclass
class WebhookRequest:
    headers: Mapping[str, str]
    body: bytes


def handle_webhook(
    request: WebhookRequest,
    *,
    store: StateStore,
    guard: GenerationGuard,
    secrets: Secrets,
    config: SignerConfig,
    clock: Callable[[], float] = time.time,
    wallet_hook: WalletHook | None = None,
) -> WebhookResponse:
    """Verify, parse and handle one delivery. Never raises: every failure is a status."""
    now = int(clock())
    try:
        verify_delivery(request.headers, request.body, config.watcher_pubkey, now)
        delivery = parse_delivery(request.body)
    except WebhookAuthError as exc:
        return _logged(WebhookResponse(401, message=str(exc)), time.perf_counter())
    except BadDelivery as exc:
        return _logged(WebhookResponse(400, message=str(exc)), time.perf_counter())
    deps = Deps(store, guard, secrets, config, wallet_hook)
    return handle_delivery(delivery, deps, now)


def handle_delivery(delivery: Delivery, deps: Deps, now: int) -> WebhookResponse:
    """Steps 2-8 for a delivery already verified and parsed by the entry point."""
    started = time.perf_counter()
    if delivery.type == "challenge" and delivery.challenge:  # a registration: no state read
        return _logged(_answer_challenge(deps, delivery.challenge), started)
    try:
        if delivery.type == "wake":
            from signer_core.wake import handle_wake

            response = _with_retries(lambda: handle_wake(deps, now), deps.config)
        elif delivery.type == "invoice" and delivery.invoice:  # LNURL-pay (invoice_request.py)
            from signer_core.invoice_request import handle_invoice

            invoice = delivery.invoice
            response = _with_retries(lambda: handle_invoice(deps, invoice, now), deps.config)
        else:
            event = _request_event(delivery.event, now)
            if event is None:
                response = WebhookResponse(200, message="request expired; ignored")
            else:
                from signer_core.request import handle_request

                response = _with_retries(lambda: handle_request(deps, event, now), deps.config)
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
    return _logged(response, started)


def _answer_challenge(deps: Deps, challenge: dict[str, str]) -> WebhookResponse:
    """Prove to the watcher that this URL serves this wallet: the registration key signs the
    nonce, the watcher's key and the URL (signer_core/protocol/challenge.py)."""
    from signer_core.protocol.challenge import sign_challenge
    from signer_core.vault.keys import registration_secret

    key = registration_secret(deps.secrets.root_secret, deps.config.wallet_id)
    nonce, url = challenge["nonce"], challenge["function_url"]
    signature = sign_challenge(key, nonce, deps.config.watcher_pubkey, url)
    return WebhookResponse(200, challenge_signature=signature)


def _logged(response: WebhookResponse, started: float) -> WebhookResponse:
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


def _request_event(raw: dict[str, object] | None, now: int) -> Event | None:
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
        expires_at = parse_uint(expiration)
        if expires_at is None:
            raise Reject(400, "expiration tag is not a unix timestamp")
        if expires_at <= now:
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
