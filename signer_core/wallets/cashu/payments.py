"""Outgoing Lightning payments through the mint (NUT-05 melt with NUT-08 change).

The life of a payment, keyed by its melt quote id (``PreparedPayment.reference``):

1. ``prepare``: quote, select inputs (swapping first when no exact selection exists),
   reserve them, take counters for the blank change outputs. State "prepared".
2. ``send``: state "sent" *before* the POST. PAID -> settle; mint error -> ask the quote
   state before concluding; no answer -> "pending", nothing released.
3. ``reconcile``: ask the quote state; PAID -> settle once (``payments_done`` makes it
   idempotent), UNPAID with unspent inputs -> None (never went through, safe to send).
4. ``cancel``: release the inputs of a payment that was never sent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import PaymentOutcome, PreparedPayment, Transaction
from signer_core.wallets.cashu.amounts import (
    blank_outputs_count,
    select_covering,
    select_exact,
    send_target,
    split_amount,
)
from signer_core.wallets.cashu.client import (
    CODE_OUTPUTS_SIGNED,
    CODE_PROOFS_PENDING,
    CODE_PROOFS_SPENT,
    CashuError,
    CashuMintError,
    MintUnreachable,
)
from signer_core.wallets.cashu.core import CashuCore, SignatureError

log = logging.getLogger(__name__)

SENT_GRACE_SECONDS = 600  # how long sync leaves an unanswered "sent" melt to the pipeline
SELECT_ATTEMPTS = 3
PENDING_WAIT_SECONDS = 0.5
STALE_CODES = (
    CODE_PROOFS_SPENT,
    CODE_OUTPUTS_SIGNED,
    CODE_PROOFS_PENDING,
)  # how long sync leaves an unanswered "sent" melt to the pipeline


def _quote_state(q: dict[str, Any]) -> str:
    state = q.get("state")
    if isinstance(state, str) and state:
        return state.upper()
    return "PAID" if q.get("paid") else "UNPAID"


def _decode(invoice: str) -> Any:
    from signer_core.protocol.bolt11 import InvalidInvoice, decode

    try:
        return decode(invoice)
    except InvalidInvoice as exc:
        raise NwcError(ErrorCode.OTHER, f"invalid invoice: {exc}") from None


def prepare(
    core: CashuCore, invoice: str, amount_msat: int | None, request_id: str
) -> PreparedPayment:
    st, now = core.state, core.env.now
    inv = _decode(invoice)
    if inv.amount_msat is None:
        raise NwcError(
            ErrorCode.OTHER,
            "amountless invoices are not supported: the Cashu mint needs an invoice with an amount",
        )
    if amount_msat is not None and amount_msat != inv.amount_msat:
        raise NwcError(
            ErrorCode.OTHER,
            f"amount {amount_msat} msat does not match the invoice amount {inv.amount_msat} msat",
        )
    if inv.is_expired(now):
        raise NwcError(ErrorCode.PAYMENT_FAILED, "the invoice has expired")
    for p in st.payments.values():
        if p["payment_hash"] == inv.payment_hash:
            raise NwcError(ErrorCode.OTHER, "a payment of this invoice is already in progress")
    if any(
        t.get("type") == "outgoing"
        and t.get("state") == "settled"
        and t.get("payment_hash") == inv.payment_hash
        for t in st.txs
    ):
        raise NwcError(ErrorCode.PAYMENT_FAILED, "this invoice has already been paid")

    at_least = -(-inv.amount_msat // 1000)
    if st.balance() < at_least:  # no need to ask the mint
        raise NwcError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"insufficient balance: {st.balance()} sat available, the invoice asks for "
            f"{at_least} sat plus fees",
        )
    try:
        core.load_keysets()
        quote = core.client.melt_quote(invoice, core.unit)
    except CashuMintError as exc:
        raise NwcError(
            ErrorCode.PAYMENT_FAILED, f"the mint refused the invoice: {exc.detail}"
        ) from None
    except MintUnreachable as exc:
        raise NwcError(ErrorCode.OTHER, str(exc)) from None
    ref = str(quote.get("quote") or "")
    amount, fee_reserve = int(quote.get("amount", 0)), int(quote.get("fee_reserve", 0))
    if not ref or _quote_state(quote) != "UNPAID" or fee_reserve < 0:
        raise NwcError(ErrorCode.PAYMENT_FAILED, "the mint returned an unusable melt quote")
    if not 0 <= amount * 1000 - inv.amount_msat < 1000:
        raise NwcError(
            ErrorCode.PAYMENT_FAILED,
            f"the mint quoted {amount} sat for an invoice of {inv.amount_msat} msat",
        )

    try:
        selected, swap_fee = _select_retrying(core, amount, fee_reserve)
        in_fee = core.fee_of(selected)
        total = sum(p["amount"] for p in selected)
        n_blank = blank_outputs_count(total - amount - in_fee)
        blank: dict[str, Any] = {"keyset_id": "", "start": 0, "count": 0}
        if n_blank:
            keyset_id = core.active_keyset()
            blank = {
                "keyset_id": keyset_id,
                "start": st.take_counters(keyset_id, n_blank),
                "count": n_blank,
            }
    except CashuMintError as exc:
        raise NwcError(ErrorCode.PAYMENT_FAILED, f"the mint refused: {exc.detail}") from None
    except CashuError as exc:
        raise NwcError(ErrorCode.OTHER, f"could not prepare the payment: {exc}") from None

    secrets = [p["secret"] for p in selected]
    st.reserve(secrets, ref)
    payment = {
        "state": "prepared",
        "request_id": request_id,
        "invoice": invoice,
        "payment_hash": inv.payment_hash,
        "amount_msat": inv.amount_msat,
        "amount": amount,
        "fee_reserve": fee_reserve,
        "input_fee": in_fee,
        "swap_fee": swap_fee,
        "inputs_total": total,
        "proofs": secrets,
        "blank": blank,
        "created_at": now,
    }
    st.payments[ref] = payment
    st.drop_tx(ref, "outgoing")
    st.add_tx(
        ref,
        Transaction(
            type="outgoing",
            state="pending",
            invoice=invoice,
            payment_hash=inv.payment_hash,
            amount=inv.amount_msat,
            created_at=now,
            description=inv.description,
            description_hash=inv.description_hash,
            expires_at=inv.expires_at,
        ),
    )
    return PreparedPayment(
        reference=ref,
        invoice=invoice,
        payment_hash=inv.payment_hash,
        amount_msat=inv.amount_msat,
        fee_reserve_msat=(total + swap_fee) * 1000 - inv.amount_msat,
        data={
            k: payment[k]
            for k in (
                "amount",
                "fee_reserve",
                "input_fee",
                "swap_fee",
                "inputs_total",
                "proofs",
                "blank",
            )
        },
    )


def _select_retrying(core: CashuCore, amount: int, fee_reserve: int) -> tuple[list[Any], int]:
    """_select, again when the swap met a stale state: inputs already spent or counters
    already signed (a lost write after an earlier run; swap() healed it), or inputs held
    pending by a concurrent run (wait for it, then heal)."""
    for attempt in range(SELECT_ATTEMPTS):
        try:
            return _select(core, amount, fee_reserve)
        except CashuMintError as exc:
            if attempt + 1 == SELECT_ATTEMPTS or exc.code not in STALE_CODES:
                raise
            if exc.code == CODE_PROOFS_PENDING:
                time.sleep(PENDING_WAIT_SECONDS)
                core.heal()
    raise AssertionError("unreachable")  # pragma: no cover


def _select(core: CashuCore, amount: int, fee_reserve: int) -> tuple[list[Any], int]:
    """Inputs worth exactly amount + fee_reserve + their own input fee, swapping our proofs
    first when no subset fits exactly. Returns (inputs, input fee paid by the swap)."""
    ppk = core.ppk()
    target = amount + fee_reserve
    spendable = core.state.spendable()
    selected = select_exact(spendable, target, ppk)
    if selected is not None:
        return selected, 0
    send_total = send_target(target, ppk.get(core.active_keyset(), 0))
    inputs = select_covering(spendable, send_total, ppk)
    if inputs is None:
        _insufficient(core, amount, fee_reserve, spendable)
    assert inputs is not None
    swap_fee = core.fee_of(inputs)
    keep_total = sum(p["amount"] for p in inputs) - swap_fee - send_total
    return core.swap(inputs, split_amount(send_total), split_amount(keep_total)), swap_fee


def _insufficient(core: CashuCore, amount: int, fee_reserve: int, spendable: list[Any]) -> None:
    balance = sum(p["amount"] for p in spendable)
    fees = core.fee_of(spendable)
    need = amount + fee_reserve + fees
    extra = f" + up to {fees} sat input fees" if fees else ""
    raise NwcError(
        ErrorCode.INSUFFICIENT_BALANCE,
        f"insufficient balance: {balance} sat available, the payment needs {need} sat "
        f"({amount} sat + {fee_reserve} sat fee reserve{extra})",
    )


def _payment(core: CashuCore, prepared: PreparedPayment) -> dict[str, Any]:
    p = core.state.payments.get(prepared.reference)
    if p is None:
        raise NwcError(ErrorCode.INTERNAL, "this payment is unknown to the wallet state")
    return p


def _done_outcome(core: CashuCore, ref: str) -> PaymentOutcome | None:
    done = core.state.payments_done.get(ref)
    if done is None:
        return None
    return PaymentOutcome(
        done["status"],
        done.get("preimage"),
        int(done.get("fees_paid_msat", 0)),
        str(done.get("message", "")),
    )


def send(core: CashuCore, prepared: PreparedPayment) -> PaymentOutcome:
    ref = prepared.reference
    done = _done_outcome(core, ref)
    if done is not None:
        return done
    p = _payment(core, prepared)
    proofs = core.state.reserved_by(ref)
    if {x["secret"] for x in proofs} != set(p["proofs"]):
        raise NwcError(ErrorCode.INTERNAL, "the reserved inputs of this payment are missing")
    p["state"], p["sent_at"] = "sent", core.env.now
    for attempt in range(2):
        blank = p["blank"]
        outputs = core.make_outputs(blank["keyset_id"], [1] * blank["count"], blank["start"])
        try:
            res = core.client.melt(ref, core.wire(proofs), [o.blinded() for o in outputs])
        except MintUnreachable as exc:
            log.info("melt %s: no answer from the mint; left pending", ref)
            return PaymentOutcome("pending", message=f"{exc}; the payment will be checked again")
        except CashuMintError as exc:
            # our change counters were used by a run whose state was lost: the mint refused
            # before touching the inputs, so move past them and send again
            renew = exc.code == CODE_OUTPUTS_SIGNED and attempt == 0 and blank["count"]
            if renew and _renew_blanks(core, p):
                continue
            return _after_error(core, ref, p, exc)
        return _apply(core, ref, p, res, from_melt=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _renew_blanks(core: CashuCore, p: dict[str, Any]) -> bool:
    try:
        core.heal()
        keyset_id = core.active_keyset()
    except CashuError:
        return False
    count = p["blank"]["count"]
    p["blank"] = {
        "keyset_id": keyset_id,
        "start": core.state.take_counters(keyset_id, count),
        "count": count,
    }
    return True


def _apply(
    core: CashuCore, ref: str, p: dict[str, Any], q: dict[str, Any], from_melt: bool
) -> PaymentOutcome:
    state = _quote_state(q)
    if state == "PAID":
        return _settle(core, ref, p, q, change_known=from_melt or q.get("change") is not None)
    if state == "PENDING":
        return PaymentOutcome("pending", message="the payment is in flight")
    return _check_inputs_after_unpaid(core, ref, p, "the mint did not pay the invoice")


def _after_error(
    core: CashuCore, ref: str, p: dict[str, Any], exc: CashuMintError
) -> PaymentOutcome:
    """The melt was refused: look at the quote before concluding anything."""
    try:
        q = core.client.get_melt_quote(ref)
    except CashuError:
        return PaymentOutcome("pending", message=f"the mint refused ({exc.detail}); state unknown")
    state = _quote_state(q)
    if state == "UNPAID":
        return _check_inputs_after_unpaid(core, ref, p, exc.detail)
    return _apply(core, ref, p, q, from_melt=False)


def _check_inputs_after_unpaid(
    core: CashuCore, ref: str, p: dict[str, Any], message: str
) -> PaymentOutcome:
    proofs = core.state.reserved_by(ref)
    try:
        states = core.proof_states(proofs)
    except CashuError:
        return PaymentOutcome("pending", message=f"{message}; inputs could not be checked")
    if any(s == "PENDING" for s in states.values()):
        return PaymentOutcome("pending", message="the mint still holds the inputs as pending")
    spent = [secret for secret, s in states.items() if s == "SPENT"]
    core.state.remove_proofs(spent)
    core.state.release(ref)
    outcome = PaymentOutcome("failed", message=f"payment failed: {message}")
    _finish(core, ref, outcome, tx_state="failed")
    if spent:
        try:
            core.heal()  # our view was stale: recover what a lost operation left behind
        except CashuError:
            log.warning("heal after stale inputs failed; will retry on the next sync")
    return outcome


def _settle(
    core: CashuCore, ref: str, p: dict[str, Any], q: dict[str, Any], change_known: bool
) -> PaymentOutcome:
    st = core.state
    blank = p["blank"]
    change: list[dict[str, Any]] = []
    try:
        if q.get("change"):
            outputs = core.make_outputs(blank["keyset_id"], [1] * blank["count"], blank["start"])
            change = core.to_proofs(outputs, list(q["change"]))
        elif blank["count"] and not change_known:
            found, _ = core.restore_range(blank["keyset_id"], blank["start"], blank["count"])
            change = found
    except SignatureError:
        log.warning("melt %s: change signatures failed verification; change dropped", ref)
        change = []
    except CashuError:
        log.warning("melt %s: change could not be recovered now", ref)
        st.pending_outputs.append({**blank, "op": "change"})  # heal() fetches it later
        change = []
    st.remove_proofs(p["proofs"])
    st.add_proofs(change)
    charged = p["inputs_total"] + p["swap_fee"] - sum(c["amount"] for c in change)
    fees_msat = max(charged * 1000 - p["amount_msat"], 0)
    preimage = q.get("payment_preimage") or None
    outcome = PaymentOutcome("settled", preimage, fees_msat)
    _finish(core, ref, outcome, tx_state="settled")
    return outcome


def _finish(core: CashuCore, ref: str, outcome: PaymentOutcome, tx_state: str) -> None:
    st = core.state
    tx = st.tx_by_ref(ref, "outgoing")
    if tx is not None:
        tx["state"] = tx_state
        if outcome.status == "settled":
            tx["settled_at"] = core.env.now
            tx["fees_paid"] = outcome.fees_paid_msat
            if outcome.preimage:
                tx["preimage"] = outcome.preimage
    st.mark_done(
        ref,
        {
            "status": outcome.status,
            "preimage": outcome.preimage,
            "fees_paid_msat": outcome.fees_paid_msat,
            "message": outcome.message,
            "at": core.env.now,
        },
    )


def reconcile(core: CashuCore, prepared: PreparedPayment) -> PaymentOutcome | None:
    ref = prepared.reference
    done = _done_outcome(core, ref)
    if done is not None:
        return done
    p = _payment(core, prepared)
    try:
        q = core.client.get_melt_quote(ref)
    except CashuError as exc:
        return PaymentOutcome("pending", message=f"could not ask the mint: {exc}")
    state = _quote_state(q)
    if state != "UNPAID":
        return _apply(core, ref, p, q, from_melt=False)
    try:
        states = core.proof_states(core.state.reserved_by(ref))
    except CashuError as exc:
        return PaymentOutcome("pending", message=f"could not ask the mint: {exc}")
    if states and all(s == "UNSPENT" for s in states.values()):
        p["state"] = "prepared"  # never went through: safe to send (again)
        return None
    return _check_inputs_after_unpaid(core, ref, p, "the mint did not pay the invoice")


def cancel(core: CashuCore, prepared: PreparedPayment) -> None:
    ref = prepared.reference
    p = core.state.payments.get(ref)
    if p is None:
        return
    if p["state"] != "prepared":
        raise NwcError(ErrorCode.INTERNAL, "this payment was sent; reconcile it instead")
    core.state.release(ref)
    core.state.payments.pop(ref, None)
    core.state.drop_tx(ref, "outgoing")


def sync_sent(core: CashuCore) -> None:
    """Settle in-flight melts the mint has finished (the pipeline's reconcile then finds the
    stored outcome). Unanswered ones older than the grace period go back to "prepared", so
    the pipeline decides; nothing is released here."""
    for ref, p in list(core.state.payments.items()):
        if p.get("state") != "sent":
            continue
        try:
            q = core.client.get_melt_quote(ref)
        except CashuError:
            continue
        state = _quote_state(q)
        if state == "PAID":
            _settle(core, ref, p, q, change_known=q.get("change") is not None)
        elif state == "UNPAID" and core.env.now - int(p.get("sent_at", 0)) > SENT_GRACE_SECONDS:
            p["state"] = "prepared"
