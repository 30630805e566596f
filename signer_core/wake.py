"""A scheduled wake-up: finish claimed payments, sync the backend, refresh info events.

Opened with the admin wrap (there is no client request to unwrap with). Replies to payments
that were still in flight when their request was answered 409 are produced here too, so a
client gets its answer even if the watcher gave up re-delivering.
"""

from __future__ import annotations

from signer_core.attempt import (
    IN_FLIGHT_RECHECK_S,
    Deps,
    Notifications,
    Replier,
    earliest,
    notification_events,
    open_backend,
    record_done,
    sync_wallet,
)
from signer_core.methods import MethodContext, PaymentPending, connection_info_event
from signer_core.protocol import nip47
from signer_core.protocol.errors import NwcError
from signer_core.protocol.events import Event
from signer_core.protocol.webhook import WebhookResponse
from signer_core.session import StateSession
from signer_core.state import WalletState
from signer_core.wallets.base import Wallet


def handle_wake(deps: Deps, now: int) -> WebhookResponse:
    session = deps.read_session()
    state = session.open_as_admin()
    wallet = open_backend(state, deps, now)
    notes: Notifications = []

    events, still_pending = _finish_claimed(session, state, wallet, notes, now)
    wake_at = sync_wallet(wallet, notes, session.commit) if state.connections else None

    events.extend(notification_events(session, state, notes, now))
    events.extend(info_events(session, state, wallet, now))
    session.commit_if_changed()  # a sync may update backend state without a receipt
    if still_pending:
        wake_at = earliest(wake_at, now + IN_FLIGHT_RECHECK_S)
    return WebhookResponse(200, events, wake_at=wake_at)


def _finish_claimed(
    session: StateSession, state: WalletState, wallet: Wallet, notes: Notifications, now: int
) -> tuple[list[Event], bool]:
    """Late replies for payments whose request was answered 409; True if any still pends."""
    from signer_core.methods.pay_invoice import resume

    events: list[Event] = []
    still_pending = False
    for entry in [e for e in state.ledger.values() if e.status == "claimed"]:
        conn = state.connections.get(entry.connection_id)
        if conn is None:
            continue
        ctx = MethodContext(state, conn, wallet, entry.request_id, now, session.commit)
        ctx.entry = entry
        scheme: nip47.Scheme = "nip04" if entry.scheme == "nip04" else "nip44_v2"
        reply = Replier(
            session.service_secret(conn.id), entry.request_id, entry.client_pubkey, scheme, now
        )
        try:
            response = reply(entry.method, result=resume(ctx, entry))
        except PaymentPending:
            still_pending = True
            continue
        except NwcError as exc:
            response = reply(entry.method, error=exc)
        record_done(state, entry, response, now)
        events.append(response)
        notes.extend(ctx.notifications)
    return events, still_pending


def info_events(
    session: StateSession, state: WalletState, wallet: Wallet, now: int
) -> list[Event]:
    """The replaceable 13194 info event of every live connection, for the watcher to publish."""
    events = []
    for conn in state.connections.values():
        if conn.expires_at is not None and now >= conn.expires_at:
            continue
        events.append(connection_info_event(conn, session.service_secret(conn.id), wallet, now))
    return events
