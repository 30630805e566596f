"""What one attempt at a delivery shares, whether it answers a request or a wake-up.

The request path (`request.py`) and the wake path (`wake.py`) both open the sealed state,
open the wallet backend, sync it, sign replies, record finished requests in the ledger and
fan notifications out to the connections. Those steps live here, once; neither path
imports the other, and this module imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from signer_core import isolation, zap_receipts
from signer_core.protocol import nip47
from signer_core.protocol.errors import NwcError
from signer_core.protocol.events import Event
from signer_core.session import Secrets, StateSession
from signer_core.state import LedgerEntry, WalletState
from signer_core.stores.base import GenerationGuard, StateStore
from signer_core.wallets import extensions, open_wallet
from signer_core.wallets.base import Wallet, WalletEnv

PENDING_WAKE_S = 10  # first wake-up after a request left work pending (an unpaid invoice)
IN_FLIGHT_RECHECK_S = 30  # a wake-up found a payment still in flight: look again then

# Wraps each opened wallet (the Lambda entry point meters settled amounts this way).
WalletHook = Callable[[Wallet], Wallet]
Notifications = list[tuple[str, dict[str, Any]]]


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
class Deps:
    """What an attempt works with; built once per delivery by the pipeline."""

    store: StateStore
    guard: GenerationGuard
    secrets: Secrets
    config: SignerConfig
    wallet_hook: WalletHook | None = None

    def read_session(self) -> StateSession:
        return StateSession.read(self.store, self.guard, self.secrets, self.config.wallet_id)


class Reject(Exception):
    """End the delivery with a non-2xx status and a message for the watcher's logs."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def open_backend(state: WalletState, deps: Deps, now: int) -> Wallet:
    """The state's wallet backend, over its slice of the state (mutated in place)."""
    env = WalletEnv(
        seed=bytes.fromhex(state.seed_hex),
        now=now,
        config=deps.config.wallet_config,
        mnemonic=state.mnemonic,
    )
    wallet = open_wallet(state.backend, state.backend_data, env)
    if deps.wallet_hook is not None:  # first: a hook may rebuild the backend (jsffi)
        wallet = deps.wallet_hook(wallet)
    return zap_receipts.track(wallet, state, now)  # a sync's zap receipts become owed


def sync_wallet(
    wallet: Wallet, notifications: Notifications, commit: Callable[[], None]
) -> int | None:
    """Settle what the backend settled while we slept; each receipt becomes a notification.

    Committed at once when anything was received, so minted proofs are durable before the
    request's own work can fail. Returns when the backend wants to look again.
    """
    if not wallet.needs_sync():
        return None
    result = wallet.sync()
    for tx in result.received:
        notifications.append(("payment_received", tx.to_nip47()))
    found = extensions.take_notifications(wallet)  # e.g. a hold invoice now accepted
    notifications.extend(found)
    if result.received or found:
        commit()
    return result.wake_at


@dataclass
class Replier:
    """Signs the 23195 reply to one request with its connection's wallet-service key."""

    service_secret: bytes
    request_id: str
    client_pubkey: str
    scheme: nip47.Scheme
    now: int

    def __call__(
        self, result_type: str, result: dict[str, Any] | None = None, error: NwcError | None = None
    ) -> Event:
        return nip47.response_event(
            service_secret=self.service_secret,
            request_id=self.request_id,
            client_pubkey=self.client_pubkey,
            scheme=self.scheme,
            result_type=result_type,
            result=result,
            error=error,
            now=self.now,
        )


def record_done(state: WalletState, entry: LedgerEntry, response: Event, now: int) -> None:
    """Store the signed reply: a re-delivery of this request gets exactly it again."""
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
    session: StateSession, state: WalletState, notifications: Notifications, now: int
) -> list[Event]:
    """Each notification to every live connection that asked for notifications and may see
    the transaction: an isolated connection's only to it, the rest only to the others.

    Plus every zap receipt still owed, taken out of the state: both paths call this just
    before the commit that ends a 200 answer, so a receipt leaves the state only with an
    answer that carries it (signer_core/zap_receipts.py)."""
    root, wallet_id = session.secrets.root_secret, session.wallet_id
    events: list[Event] = zap_receipts.take_receipts(state, root, wallet_id, now)
    if not notifications:
        return events
    for conn in state.connections.values():
        if "notifications" not in conn.methods:
            continue
        if conn.expires_at is not None and now >= conn.expires_at:
            continue
        secret = session.service_secret(conn.id)
        for kind, tx in notifications:
            if not isolation.visible(state, conn, str(tx.get("payment_hash", ""))):
                continue
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


def earliest(*times: int | None) -> int | None:
    """The soonest of several optional wake-up times."""
    given = [t for t in times if t is not None]
    return min(given) if given else None
