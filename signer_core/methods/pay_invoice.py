"""pay_invoice: pay a bolt11 exactly once.

Order of events, each step durable before the next:
  1. quote the payment and reserve its inputs (and the output counters of any swap it
     needs): the backend only reads, nothing changes at the mint or the payee;
  2. check the budget with the fee reserve;
  3. claim: record the request id with the prepared payment in the ledger and
     compare-and-swap the state;
  4. send (a swap first if prepared so, then the payment); 5. the pipeline records the
     reply as done.
A duplicate of a claimed request (crash, re-delivery, lost write) comes back through
`resume`, which asks the backend what happened instead of paying again.
"""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext, PaymentPending
from signer_core.policy import check_budget, record_settled
from signer_core.protocol.bolt11 import InvalidInvoice, decode
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import PayInvoiceParams, parse_params
from signer_core.state import LedgerEntry
from signer_core.wallets.base import PaymentOutcome, PreparedPayment


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(PayInvoiceParams, params)
    try:
        invoice = decode(p.invoice)
    except InvalidInvoice as exc:
        raise NwcError(ErrorCode.OTHER, f"invalid invoice: {exc}") from None
    if invoice.amount_msat is not None and p.amount is not None and p.amount != invoice.amount_msat:
        raise NwcError(
            ErrorCode.OTHER,
            f"amount {p.amount} msat does not match the invoice's {invoice.amount_msat} msat",
        )
    if invoice.amount_msat is None and p.amount is None:
        raise NwcError(ErrorCode.OTHER, "the invoice has no amount: pass params.amount in msat")
    if invoice.expires_at <= ctx.now:
        raise NwcError(ErrorCode.OTHER, "the invoice has expired")
    earlier = ctx.wallet.lookup_invoice(payment_hash=invoice.payment_hash)
    if (
        earlier is not None
        and earlier.type == "outgoing"
        and earlier.state in ("settled", "pending")
    ):
        raise NwcError(
            ErrorCode.PAYMENT_FAILED, f"this invoice is already {earlier.state} by this wallet"
        )

    prepared = ctx.wallet.prepare_payment(
        invoice=p.invoice,
        amount_msat=p.amount if invoice.amount_msat is None else None,
        request_id=ctx.request_id,
    )
    try:
        check_budget(
            ctx.connection,
            ctx.state.ledger,
            prepared.amount_msat,
            prepared.fee_reserve_msat,
            ctx.now,
        )
    except NwcError:
        ctx.wallet.cancel_payment(prepared)
        raise
    claim(ctx, prepared)
    return finish(ctx, prepared, ctx.wallet.send_payment(prepared))


def claim(ctx: MethodContext, prepared: PreparedPayment) -> None:
    """Record the payment as claimed and make that durable before any money moves."""
    entry = ctx.entry
    assert entry is not None, "the pipeline gives every ledgered request an entry"
    ctx.state.ledger[entry.request_id] = entry
    entry.status = "claimed"
    entry.payment = prepared.to_dict()
    entry.updated_at = ctx.now
    ctx.commit()


def resume(ctx: MethodContext, entry: LedgerEntry) -> dict[str, Any]:
    """Finish a claimed payment: reconcile with the backend, send only if it never arrived.

    Even an invoice that expired meanwhile is sent again rather than given up here: only
    the backend knows whether an earlier attempt went through (a Spark send under the same
    idempotency key returns the stored payment), and it refuses an expired invoice itself.
    """
    assert entry.payment is not None
    prepared = PreparedPayment.from_dict(entry.payment)
    outcome = ctx.wallet.reconcile_payment(prepared)
    if outcome is None:
        outcome = ctx.wallet.send_payment(prepared)
    return finish(ctx, prepared, outcome)


def finish(
    ctx: MethodContext, prepared: PreparedPayment, outcome: PaymentOutcome
) -> dict[str, Any]:
    if outcome.status == "pending":
        raise PaymentPending(outcome.message or "payment in flight")
    if outcome.status == "failed":
        raise NwcError(ErrorCode.PAYMENT_FAILED, outcome.message or "the payment failed")
    record_settled(ctx.connection, prepared.amount_msat, outcome.fees_paid_msat, ctx.now)
    tx = ctx.wallet.lookup_invoice(payment_hash=prepared.payment_hash)
    if tx is not None:
        ctx.notifications.append(("payment_sent", tx.to_nip47()))
    return {"preimage": outcome.preimage or "", "fees_paid": outcome.fees_paid_msat}
