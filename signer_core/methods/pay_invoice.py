"""pay_invoice: pay a bolt11 exactly once (and the one payment core `pay` shares).

Order of events, each step durable before the next:
  1. quote the payment and reserve its inputs (and the output counters of any swap it
     needs): the backend only reads, nothing changes at the mint or the payee;
  2. check the fee reserve against `max_fee` (pay) and the budget with it;
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
from signer_core.policy import balance_before_prepare, check_spend, record_settled
from signer_core.protocol.bolt11 import InvalidInvoice, Invoice, decode
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import PayInvoiceParams, parse_params
from signer_core.state import LedgerEntry
from signer_core.wallets.base import PaymentOutcome, PreparedPayment, Transaction


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(PayInvoiceParams, params)
    return pay_bolt11(ctx, p.invoice, p.amount)


def check_invoice(ctx: MethodContext, text: str, amount_msat: int | None) -> Invoice:
    """A bolt11 this wallet may try to pay: well-formed, amounts agree, not expired, not
    already paid or in flight here. Raises NwcError before anything is reserved."""
    try:
        invoice = decode(text)
    except InvalidInvoice as exc:
        raise NwcError(ErrorCode.OTHER, f"invalid invoice: {exc}") from None
    if invoice.amount_msat not in (None, amount_msat) and amount_msat is not None:
        raise NwcError(
            ErrorCode.OTHER,
            f"amount {amount_msat} msat does not match the invoice's {invoice.amount_msat} msat",
        )
    if invoice.amount_msat is None and amount_msat is None:
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
    return invoice


def pay_bolt11(
    ctx: MethodContext, text: str, amount_msat: int | None, *, max_fee_msat: int | None = None
) -> dict[str, Any]:
    """The one payment path of pay_invoice and pay (NWC-321): check, quote and reserve,
    fee limit and budget, claim, send. The reply's shape follows the request's method."""
    invoice = check_invoice(ctx, text, amount_msat)
    before = balance_before_prepare(ctx)  # the main balance, when sub-wallets hold funds
    prepared = ctx.wallet.prepare_payment(
        invoice=text,
        amount_msat=amount_msat if invoice.amount_msat is None else None,
        request_id=ctx.request_id,
    )
    try:
        if max_fee_msat is not None and prepared.fee_reserve_msat > max_fee_msat:
            raise NwcError(
                ErrorCode.FEE_LIMIT_EXCEEDED,
                f"this payment may cost up to {prepared.fee_reserve_msat} msat in fees, more "
                f"than max_fee {max_fee_msat} msat; nothing was paid",
            )
        check_spend(ctx, prepared, before)  # sub-wallet balances and the budget
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
    if ctx.entry is not None and ctx.entry.method == "pay":
        return _pay_result(ctx, prepared, outcome, tx)
    return {"preimage": outcome.preimage or "", "fees_paid": outcome.fees_paid_msat}


def _pay_result(
    ctx: MethodContext,
    prepared: PreparedPayment,
    outcome: PaymentOutcome,
    tx: Transaction | None,
) -> dict[str, Any]:
    """NWC-321's result: the transaction id is the payment hash (what lookup_invoice and
    list_transactions know it by); only bolt11 is ever paid (docs/nwc-extensions.md)."""
    result: dict[str, Any] = {
        "transaction_id": prepared.payment_hash,
        "state": "settled",
        "instruction_type": "bolt11",
        "amount": prepared.amount_msat,
        "fees_paid": outcome.fees_paid_msat,
        "payment_hash": prepared.payment_hash,
        "created_at": tx.created_at if tx is not None and tx.created_at else ctx.now,
        "settled_at": tx.settled_at if tx is not None and tx.settled_at else ctx.now,
    }
    if outcome.preimage:
        result["preimage"] = outcome.preimage
    return result
