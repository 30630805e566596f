"""A scheduled wake-up: sync the backend, finish claimed payments, refresh info events.

Opened with the admin wrap (there is no client request to unwrap with). Replies to payments
that were still in flight when their request was answered 409 are produced here too, so a
client gets its answer even if the watcher gave up re-delivering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signer_core.methods import (
    MethodContext,
    PaymentPending,
    available_methods,
    available_notifications,
)
from signer_core.protocol import nip47
from signer_core.protocol.errors import NwcError
from signer_core.protocol.events import Event
from signer_core.request import _wallet_env, notification_events, record_done, sync_wallet
from signer_core.session import StateSession
from signer_core.state import WalletState
from signer_core.wallets import open_wallet

if TYPE_CHECKING:
    from signer_core.pipeline import Deps, WebhookResponse

IN_FLIGHT_RECHECK_S = 30


def handle_wake(deps: Deps, now: int) -> WebhookResponse:
    from signer_core.methods.pay_invoice import resume
    from signer_core.pipeline import WebhookResponse

    session = StateSession.read(deps.store, deps.guard, deps.secrets, deps.config.wallet_id)
    state = session.open_as_admin()
    wallet = open_wallet(state.backend, state.backend_data, _wallet_env(state, deps, now))
    events: list[Event] = []
    notes: list[tuple[str, dict[str, object]]] = []
    wake_at = None
    still_pending = False
    changed = False

    for entry in [e for e in state.ledger.values() if e.status == "claimed"]:
        conn = state.connections.get(entry.connection_id)
        if conn is None:
            continue
        ctx = MethodContext(state, conn, wallet, entry.request_id, now, session.commit)
        ctx.entry = entry
        secret = session.service_secret(conn.id)
        scheme: nip47.Scheme = "nip04" if entry.scheme == "nip04" else "nip44_v2"
        try:
            result = resume(ctx, entry)
            error = None
        except PaymentPending:
            still_pending = True
            continue
        except NwcError as exc:
            result, error = None, exc
        response = nip47.response_event(
            service_secret=secret,
            request_id=entry.request_id,
            client_pubkey=entry.client_pubkey,
            scheme=scheme,
            result_type=entry.method,
            result=result,
            error=error,
            now=now,
        )
        record_done(state, entry, response, now)
        events.append(response)
        notes.extend(ctx.notifications)
        changed = True

    first = next(iter(state.connections.values()), None)
    if first is not None:
        ctx = MethodContext(state, first, wallet, "", now, session.commit)
        synced = wallet.needs_sync()
        wake_at = sync_wallet(ctx, wallet)
        notes.extend(ctx.notifications)
        changed = changed or synced  # a sync may update backend state without a receipt

    events.extend(notification_events(session, state, notes, now))
    events.extend(info_events(session, state, wallet.methods, wallet.notifications, now))
    if changed:
        session.commit()
    if still_pending:
        soon = now + IN_FLIGHT_RECHECK_S
        wake_at = soon if wake_at is None else min(wake_at, soon)
    return WebhookResponse(200, events, wake_at=wake_at)


def info_events(
    session: StateSession,
    state: WalletState,
    wallet_methods: frozenset[str],
    wallet_notifications: frozenset[str],
    now: int,
) -> list[Event]:
    """The replaceable 13194 info event of every live connection, for the watcher to publish."""
    events = []
    for conn in state.connections.values():
        if conn.expires_at is not None and now >= conn.expires_at:
            continue
        events.append(
            nip47.info_event(
                service_secret=session.service_secret(conn.id),
                methods=available_methods(conn, wallet_methods),
                notifications=available_notifications(conn, wallet_notifications),
                now=now,
            )
        )
    return events
