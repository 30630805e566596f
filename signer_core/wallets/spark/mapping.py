"""SDK payments -> NIP-47 transactions, read by attribute and enum name (no SDK import).

A Spark ``Payment`` has an id (the transfer id; for our own sends, the idempotency key),
type SEND/RECEIVE, status COMPLETED/PENDING/FAILED, amount and fees in sats and, for
Lightning, the bolt11 and its HTLC (payment hash, preimage). Spark-to-Spark transfers
have no invoice; NIP-47 still gets every required field (empty invoice, the transfer id
in metadata).
"""

from __future__ import annotations

from typing import Any

from signer_core.wallets.base import PaymentOutcome, Transaction, TxState

STATES: dict[str, TxState] = {"COMPLETED": "settled", "PENDING": "pending", "FAILED": "failed"}


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def htlc(payment: Any) -> Any:
    details = getattr(payment, "details", None)
    return getattr(details, "htlc_details", None) if details is not None else None


def payment_hash(payment: Any) -> str:
    found = htlc(payment)
    return str(getattr(found, "payment_hash", "") or "") if found is not None else ""


def preimage(payment: Any) -> str | None:
    found = htlc(payment)
    value = getattr(found, "preimage", None) if found is not None else None
    return str(value) if value else None


def invoice(payment: Any) -> str:
    details = getattr(payment, "details", None)
    return str(getattr(details, "invoice", "") or "") if details is not None else ""


def to_transaction(payment: Any) -> Transaction:
    """The NIP-47 transaction of an SDK payment (msat amounts, unix seconds)."""
    bolt11 = invoice(payment)
    state = STATES.get(_name(payment.status), "pending")
    found = htlc(payment)
    waiting = found is not None and _name(found.status) == "WAITING_FOR_PREIMAGE"
    if state == "pending" and waiting and _name(payment.payment_type) == "RECEIVE":
        state = "accepted"  # a held HTLC of a hold invoice, waiting for its preimage
    created = int(payment.timestamp)
    tx = Transaction(
        type="outgoing" if _name(payment.payment_type) == "SEND" else "incoming",
        state=state,
        invoice=bolt11,
        payment_hash=payment_hash(payment),
        amount=int(payment.amount) * 1000,
        fees_paid=int(payment.fees) * 1000,
        created_at=created,
        preimage=preimage(payment),
        settled_at=created if state == "settled" else None,
        metadata={"spark_payment_id": str(payment.id), "method": _name(payment.method).lower()},
    )
    details = getattr(payment, "details", None)
    description = getattr(details, "description", None) if details is not None else None
    if description:
        tx.description = str(description)
    if bolt11:
        from signer_core.protocol.bolt11 import InvalidInvoice, decode

        try:
            decoded = decode(bolt11)
        except InvalidInvoice:
            return tx
        tx.expires_at = decoded.expires_at
        tx.description_hash = decoded.description_hash
        tx.payment_hash = tx.payment_hash or decoded.payment_hash
    return tx


def to_outcome(payment: Any) -> PaymentOutcome:
    """What an SDK payment says about one of our sends."""
    status = _name(payment.status)
    if status == "COMPLETED":
        return PaymentOutcome(
            "settled", preimage=preimage(payment), fees_paid_msat=int(payment.fees) * 1000
        )
    if status == "FAILED":
        return PaymentOutcome("failed", message="the Lightning payment failed")
    return PaymentOutcome("pending", message="the Lightning payment is still in flight")
