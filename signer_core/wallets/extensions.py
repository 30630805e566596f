"""Optional backend capabilities beyond the core ``Wallet`` protocol (signer_core.wallets.base).

Each is a small Protocol that a backend implements only where it can do the thing for real
(NWC-03 hold invoices, Alby's sign_message, notifications that a sync finds besides
receipts). Method modules ask for a capability with ``require``; a backend without it
answers NOT_IMPLEMENTED naming the backend. A backend must also list the method in its
``methods`` for the pipeline to route the method to it at all.

Runtime-checkable, so a delegating wrapper (the Lambda entry point's metering hook) that
forwards attributes still qualifies.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import Transaction

HOLD_INVOICE_ACCEPTED = "hold_invoice_accepted"
Notification = tuple[str, dict[str, Any]]


@runtime_checkable
class HoldInvoices(Protocol):
    """NWC-03: invoices whose incoming HTLC is held until the client settles it."""

    def make_hold_invoice(
        self,
        *,
        amount_msat: int,
        payment_hash: str,
        description: str | None,
        description_hash: str | None,
        expiry: int | None,
        min_cltv_expiry_delta: int | None,
    ) -> Transaction:
        """Create the invoice for a hash whose preimage only the client knows."""
        ...

    def settle_hold_invoice(self, *, preimage: str) -> Transaction | None:
        """Claim the held payment with its preimage, exactly once: the settled incoming
        transaction, or None when it was settled (and reported) before, so that a second
        call claims nothing and notifies nothing."""
        ...

    def cancel_hold_invoice(self, *, payment_hash: str) -> None:
        """Fail the held payment back to the payer now."""
        ...


@runtime_checkable
class MessageSigner(Protocol):
    """Sign a text with a key of the wallet (Alby's NWC ``sign_message``)."""

    def sign_message(self, message: str) -> str:
        """The signature (hex) of ``message``; how to verify it is the backend's to say."""
        ...


@runtime_checkable
class SyncNotifier(Protocol):
    """A backend whose sync finds more than receipts (a hold invoice accepted, ...)."""

    def take_notifications(self) -> list[Notification]:
        """(notification_type, NIP-47 transaction) pairs found since the last call, once."""
        ...


P = TypeVar("P")


def require(wallet: object, capability: type[P], method: str) -> P:
    """The wallet as ``capability``, else NOT_IMPLEMENTED for ``method``."""
    if not isinstance(wallet, capability):
        kind = getattr(wallet, "kind", "this")
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, f"the {kind} backend cannot {method}")
    return wallet


def take_notifications(wallet: object) -> list[Notification]:
    """What the wallet's last sync found besides receipts (empty for most backends).

    The pipeline's sync step (signer_core.attempt.sync_wallet) sends these with the
    ``payment_received`` ones, so a wake-up that finds an accepted hold invoice notifies
    the apps while the function is otherwise asleep.
    """
    if isinstance(wallet, SyncNotifier):
        return wallet.take_notifications()
    return []
