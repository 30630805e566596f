"""One NWC request (kind 23194) against the opened wallet: steps 3-8 of the pipeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from signer_core import methods, policy
from signer_core.methods import MethodContext, PaymentPending
from signer_core.protocol import nip47
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.events import Event, tag_value
from signer_core.session import StateSession
from signer_core.state import LedgerEntry, WalletState
from signer_core.vault.sealed import Unauthorized
from signer_core.wallets import open_wallet
from signer_core.wallets.base import Wallet, WalletEnv

if TYPE_CHECKING:
    from signer_core.pipeline import Deps, WebhookResponse

log = logging.getLogger("nwc_signer.request")
PENDING_WAKE_S = 10  # first wake-up after a request left work pending (an unpaid invoice)


@dataclass
class _Reply:
    """Signs replies to one request with its connection's wallet-service key."""

    service_secret: bytes
    event: Event
    scheme: nip47.Scheme
    now: int

    def __call__(
        self, result_type: str, result: dict[str, Any] | None = None, error: NwcError | None = None
    ) -> Event:
        return nip47.response_event(
            service_secret=self.service_secret,
            request_id=self.event["id"],
            client_pubkey=self.event["pubkey"],
            scheme=self.scheme,
            result_type=result_type,
            result=result,
            error=error,
            now=self.now,
        )


def handle_request(deps: Deps, event: Event, now: int) -> WebhookResponse:
    from signer_core.pipeline import Reject, WebhookResponse

    session = StateSession.read(deps.store, deps.guard, deps.secrets, deps.config.wallet_id)
    service_pubkey = tag_value(event, "p") or ""
    connection_id = session.connection_for(service_pubkey)
    if connection_id is None:
        raise Reject(404, "no connection of this wallet has that wallet-service pubkey")
    reply = _Reply(session.service_secret(connection_id), event, "nip44_v2", now)

    try:
        reply.scheme = nip47.request_scheme(event)
    except NwcError as exc:  # answered with NIP-44, as NIP-47 asks
        return WebhookResponse(200, [reply("unknown", error=exc)])
    try:
        method, params = nip47.parse_request(
            nip47.decrypt(reply.scheme, event["content"], reply.service_secret, event["pubkey"])
        )
    except NwcError as exc:
        return WebhookResponse(200, [reply("unknown", error=exc)])
    try:
        state = session.open_as_client(service_pubkey, event["pubkey"])
    except Unauthorized:
        log.info("request from a client with no connection", extra={"method": method})
        error = NwcError(ErrorCode.UNAUTHORIZED, "no wallet connection for this client pubkey")
        return WebhookResponse(200, [reply(method, error=error)])

    entry = state.ledger.get(event["id"])
    if entry is not None and entry.status == "done":
        stored = cast(list[Event], list(entry.response_events or []))
        return WebhookResponse(200, stored, message="duplicate")
    connection = state.connections.get(connection_id)
    if connection is None:  # a wrap without a connection: refuse rather than guess
        error = NwcError(ErrorCode.UNAUTHORIZED, "this connection no longer exists")
        return WebhookResponse(200, [reply(method, error=error)])
    try:
        if entry is None:
            _check_new_request(event, method, connection, deps, now)
    except NwcError as exc:
        return WebhookResponse(200, [reply(method, error=exc)])

    wallet = open_wallet(state.backend, state.backend_data, _wallet_env(state, deps, now))
    ctx = MethodContext(state, connection, wallet, event["id"], now, session.commit)
    ctx.entry = entry or LedgerEntry(
        request_id=event["id"],
        connection_id=connection_id,
        method=method,
        status="claimed",
        created_at=now,
        updated_at=now,
        client_pubkey=event["pubkey"],
        scheme=reply.scheme,
    )
    wake_at = sync_wallet(ctx, wallet)

    try:
        result = _run(ctx, method, params, entry)
        response = reply(method, result=result)
    except NwcError as exc:
        response = reply(method, error=exc)
    except PaymentPending as exc:
        session.commit()
        retry = deps.config.pending_retry_s
        raise Reject(409, f"payment in flight: {exc}", retry_after=retry) from None

    connection.last_used_at = now
    if method in methods.LEDGERED or entry is not None:
        record_done(state, ctx.entry, response, now)
    prune_ledger(state, now, deps.config.ledger_retention_s)
    events = [response, *notification_events(session, state, ctx.notifications, now)]
    session.commit()
    if wake_at is None and wallet.needs_sync():  # e.g. the invoice just made: look again soon
        wake_at = now + PENDING_WAKE_S
    return WebhookResponse(200, events, wake_at=wake_at)


def _check_new_request(event: Event, method: str, connection: Any, deps: Deps, now: int) -> None:
    if method not in methods.IMPLEMENTED:
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, f"method {method!r} is not supported")
    policy.check_connection(connection, method, now)
    # Requests that move money or create invoices must be fresh: relays re-deliver old
    # events (some even store ephemeral ones), and a stale one must never act once the
    # ledger has forgotten it. The ledger outlives this window many times over.
    if method in methods.LEDGERED and abs(now - event["created_at"]) > deps.config.freshness_s:
        raise NwcError(
            ErrorCode.OTHER,
            f"{method} request's created_at is {abs(now - event['created_at'])} s away from the "
            f"wallet's clock, outside the {deps.config.freshness_s} s freshness window; "
            "send it again",
        )


def _run(ctx: MethodContext, method: str, params: dict[str, Any], entry: LedgerEntry | None) -> Any:
    if entry is not None and entry.status == "claimed":
        from signer_core.methods.pay_invoice import resume

        return resume(ctx, entry)
    if method not in ctx.wallet.methods and method not in methods.SIGNER_METHODS:
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, f"this wallet's backend cannot {method}")
    return methods.load(method)(ctx, params)


def _wallet_env(state: WalletState, deps: Deps, now: int) -> WalletEnv:
    return WalletEnv(
        seed=bytes.fromhex(state.seed_hex),
        now=now,
        config=deps.config.wallet_config,
        mnemonic=state.mnemonic,
    )


def sync_wallet(ctx: MethodContext, wallet: Wallet) -> int | None:
    """Settle what the backend settled while we slept; each receipt becomes a notification.

    Committed at once when anything was received, so minted proofs are durable before the
    request's own work can fail.
    """
    if not wallet.needs_sync():
        return None
    result = wallet.sync()
    for tx in result.received:
        ctx.notifications.append(("payment_received", tx.to_nip47()))
    if result.received:
        ctx.commit()
    return result.wake_at


def record_done(state: WalletState, entry: LedgerEntry | None, response: Event, now: int) -> None:
    assert entry is not None
    entry.status = "done"
    entry.updated_at = now
    entry.response_events = [dict(response)]
    state.ledger[entry.request_id] = entry


def prune_ledger(state: WalletState, now: int, retention_s: int) -> None:
    """Forget done requests after the retention window; claimed ones are never dropped."""
    expired = [
        rid
        for rid, e in state.ledger.items()
        if e.status == "done" and now - e.updated_at > retention_s
    ]
    for rid in expired:
        del state.ledger[rid]


def notification_events(
    session: StateSession,
    state: WalletState,
    notifications: list[tuple[str, dict[str, Any]]],
    now: int,
) -> list[Event]:
    """Each notification to every connection that asked for notifications."""
    events: list[Event] = []
    if not notifications:
        return events
    for conn in state.connections.values():
        if "notifications" not in conn.methods:
            continue
        if conn.expires_at is not None and now >= conn.expires_at:
            continue
        secret = session.service_secret(conn.id)
        for kind, tx in notifications:
            events.extend(
                nip47.notification_events(
                    service_secret=secret,
                    client_pubkey=conn.client_pubkey,
                    notification_type=kind,
                    transaction=tx,
                    now=now,
                )
            )
    return events
