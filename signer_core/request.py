"""One NWC request (kind 23194) against the opened wallet: steps 3-8 of the pipeline.

Reads top to bottom: open the state for this connection, decrypt and check the request,
answer a duplicate from the ledger, sync the backend, run the method, record it, and write
the state back only if something changed (a read-only request costs one read, no write).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from signer_core import methods, policy
from signer_core.attempt import (
    PENDING_WAKE_S,
    Deps,
    Reject,
    Replier,
    open_backend,
    prune_ledger,
    record_done,
    sync_wallet,
)
from signer_core.attempt import notification_events as fan_out
from signer_core.crypto.secp import xonly_pubkey
from signer_core.methods import MethodContext, PaymentPending
from signer_core.protocol import nip47
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.events import Event, tag_value
from signer_core.protocol.keyproof import service_key_proof
from signer_core.protocol.webhook import WebhookResponse
from signer_core.session import StateSession
from signer_core.state import Connection, LedgerEntry, WalletState
from signer_core.vault.keys import registration_secret
from signer_core.vault.sealed import Unauthorized
from signer_core.wallets.base import FundsInFlight

log = logging.getLogger("nwc_signer.request")

# Refusals of a ledgered request that a later try could turn into a payment or an invoice
# (the balance or the budget may change): stored, so a re-delivered refused payment can never
# pay later. Input errors are not stored: the same input gets the same error again, and
# recording them would make every malformed request a write.
STICKY_ERRORS = frozenset(
    {
        ErrorCode.INSUFFICIENT_BALANCE,
        ErrorCode.QUOTA_EXCEEDED,
        ErrorCode.RESTRICTED,
        ErrorCode.RATE_LIMITED,
        ErrorCode.PAYMENT_FAILED,
        ErrorCode.FEE_LIMIT_EXCEEDED,
    }
)


def handle_request(deps: Deps, event: Event, now: int) -> WebhookResponse:
    session = deps.read_session()
    service_pubkey = tag_value(event, "p") or ""
    connection_id = session.connection_for(service_pubkey)
    if connection_id is None:
        raise Reject(404, "no connection of this wallet has that wallet-service pubkey")
    reply = Replier(
        session.service_secret(connection_id), event["id"], event["pubkey"], "nip44_v2", now
    )

    try:  # an unsupported encryption is answered with NIP-44, as NIP-47 asks
        reply.scheme = nip47.request_scheme(event)
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
        if entry.connection_change:  # the watcher may not have seen the first answer
            keys, infos = _key_changes(session, deps, state, entry.connection_change, now)
            return WebhookResponse(200, [*stored, *infos], message="duplicate", keys=keys)
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

    wallet = open_backend(state, deps, now)
    ctx = MethodContext(state, connection, wallet, event["id"], now, session.commit)
    ctx.root_secret = deps.secrets.root_secret
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
    wake_at = sync_wallet(wallet, ctx.notifications, session.commit)

    refusal: NwcError | None = None
    try:
        response = reply(method, result=_run(ctx, method, params, entry))
    except NwcError as exc:
        refusal = exc
        response = reply(method, error=exc)
    except PaymentPending:
        session.commit_if_changed()
        retry = deps.config.pending_retry_s
        raise Reject(409, "payment in flight; retry soon", retry_after=retry) from None
    except FundsInFlight:  # before any claim: nothing to record, ask again soon
        session.commit_if_changed()
        retry = deps.config.pending_retry_s
        raise Reject(409, "funds reserved by payments in flight; retry soon", retry) from None

    claimed = ctx.entry.request_id in state.ledger  # the method claimed it: money may move
    sticky = method in methods.LEDGERED and (refusal is None or refusal.code in STICKY_ERRORS)
    if entry is not None or claimed or sticky:
        record_done(state, ctx.entry, response, now)
    prune_ledger(state, now, deps.config.ledger_retention_s)
    events = [response, *fan_out(session, state, ctx.notifications, now)]
    if session.changed():
        connection.last_used_at = now  # recorded with the writes only: reads stay read-only
        session.commit(rotate_key=ctx.rotate_key)  # a revoked connection's key is useless
    if wake_at is None and wallet.needs_sync():  # e.g. the invoice just made: look again soon
        wake_at = now + PENDING_WAKE_S
    keys = None
    if refusal is None and ctx.entry.connection_change:
        keys, infos = _key_changes(session, deps, state, ctx.entry.connection_change, now)
        events.extend(infos)
    return WebhookResponse(200, events, wake_at=wake_at, keys=keys)


def _key_changes(
    session: StateSession, deps: Deps, state: WalletState, change: dict[str, str], now: int
) -> tuple[dict[str, Any] | None, list[Event]]:
    """What the watcher must learn after create/revoke_connection: the new key with its
    proof (and its 13194 info event, so apps find it), or the revoked key to drop."""
    if "revoked" in change:
        return {"add": [], "remove": [change["revoked"]]}, []
    conn = state.connections.get(change.get("created", ""))
    if conn is None:  # created, then revoked since: nothing to add any more
        return None, []
    root = deps.secrets.root_secret
    wallet_pubkey = xonly_pubkey(registration_secret(root, deps.config.wallet_id)).hex()
    secret = session.service_secret(conn.id)
    proof = service_key_proof(secret, wallet_pubkey)
    wallet = open_backend(state, deps, now)
    info = methods.connection_info_event(conn, secret, wallet, now)
    return {"add": [{"pubkey": conn.service_pubkey, "proof": proof}], "remove": []}, [info]


def _check_new_request(
    event: Event, method: str, connection: Connection, deps: Deps, now: int
) -> None:
    if method in methods.NEVER_SERVED:
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, methods.NEVER_SERVED[method])
    if method not in methods.IMPLEMENTED:
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, f"method {method[:64]!r} is not supported")
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
