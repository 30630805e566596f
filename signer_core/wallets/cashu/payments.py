"""Outgoing Lightning payments through the mint (NUT-05 melt with NUT-08 change).

The life of a payment, keyed by its melt quote id (``PreparedPayment.reference``):

1. ``prepare`` (prepare.py): quote, select inputs (planning a swap when no exact selection
   exists), reserve them and the counters of the swap's and the change's outputs; reads
   only from the mint. State "prepared"; the pipeline then writes its claim.
2. ``send``: state "sent" *before* any POST; the planned swap (swap.py), then the melt.
   PAID -> settle; mint error -> ask the mint (swap: restore + checkstate; melt: the quote
   state) before concluding; no answer -> "pending", nothing released.
3. ``reconcile`` (after a crash or a duplicate): ask the quote state; once it is decided,
   finish the swap from its planned outputs (a swap done whose answer or state write was
   lost), heal (drop proofs the mint saw spent, restore outputs a lost write forgot); PAID
   -> settle once (``payments_done`` makes it idempotent), UNPAID with unspent inputs ->
   None (never went through, safe to send).

The fee settled is exact: inputs minus amount minus the change the mint signed.
4. ``cancel``: release the inputs of a payment that was never sent.
"""

from __future__ import annotations

import logging
from typing import Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import PaymentOutcome, PreparedPayment
from signer_core.wallets.cashu import swap
from signer_core.wallets.cashu.client import (
    CODE_OUTPUTS_SIGNED,
    CashuError,
    CashuMintError,
    MintUnreachable,
)
from signer_core.wallets.cashu.core import CashuCore, SignatureError

log = logging.getLogger(__name__)

SENT_GRACE_SECONDS = 600  # how long sync leaves an unanswered "sent" melt to the pipeline


QUOTE_STATES = ("UNPAID", "PENDING", "PAID")


def quote_state(q: dict[str, Any]) -> str:
    """UNPAID | PENDING | PAID, or UNKNOWN (never the mint's own text: it reaches messages)."""
    state = q.get("state")
    if isinstance(state, str) and state:
        return state.upper() if state.upper() in QUOTE_STATES else "UNKNOWN"
    return "PAID" if q.get("paid") else "UNPAID"


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
    if swap.unfinished(p):
        failed = _swap(core, ref, p)
        if failed is not None:
            return failed
        proofs = core.state.reserved_by(ref)
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
            # before touching the inputs, so move past them and send again. Unless a
            # concurrent run of this very claim melted it with these same outputs: then its
            # change is ours as recorded, and renewing would lose track of it.
            renew = exc.code == CODE_OUTPUTS_SIGNED and attempt == 0 and blank["count"]
            if renew and _still_unpaid(core, ref) and _renew_blanks(core, p):
                continue
            return _after_error(core, ref, p, exc)
        return _apply(core, ref, p, res)
    raise AssertionError("unreachable")  # pragma: no cover


def _swap(core: CashuCore, ref: str, p: dict[str, Any]) -> PaymentOutcome | None:
    """Run the swap the claim planned; None once its outputs are ours (the melt follows).

    A refusal or a lost answer is judged by what the mint holds (swap.finish): the swap
    done by an earlier or concurrent run of this claim, or with its answer lost, is taken
    from the mint; in progress or unknown stays pending; refused before anything moved
    fails the payment, nothing paid."""
    try:
        swap.run(core, ref, p)
        return None
    except MintUnreachable as exc:
        if not exc.maybe_received:
            return PaymentOutcome("pending", message=f"{exc}; the payment will be tried again")
        refusal = None
    except CashuMintError as exc:
        refusal = exc
    except CashuError as exc:  # a malformed or unverifiable answer: the mint did act
        log.warning("swap for %s: the mint's answer is unusable (%s)", ref, exc)
        return PaymentOutcome("pending", message="the mint's answer to the swap is unusable")
    try:
        found = swap.finish(core, ref, p)
    except CashuError as exc:
        return PaymentOutcome("pending", message=f"the swap's outcome is unknown ({exc})")
    if found == "done":
        return None
    if found == "pending" or refusal is None:
        return PaymentOutcome("pending", message="the swap before the payment is in flight")
    detail = f" ({refusal.detail})" if found == "not_done" else ""
    return _unswapped(core, ref, p, f"the mint refused the payment{detail}", found)


def _unswapped(
    core: CashuCore, ref: str, p: dict[str, Any], message: str, found: str
) -> PaymentOutcome:
    """Fail a payment whose swap never happened (nothing was paid): release its inputs
    (dropping those the mint reports spent). "stale": its counters or inputs were used by a
    run whose state was lost; heal recovers what that run was given once they are free."""
    outcome = _check_inputs_after_unpaid(core, ref, p, message)
    if found == "stale" and outcome.status == "failed":
        _heal_quietly(core)
    return outcome


def _still_unpaid(core: CashuCore, ref: str) -> bool:
    try:
        return quote_state(core.client.get_melt_quote(ref)) == "UNPAID"
    except CashuError:
        return False


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


def _apply(core: CashuCore, ref: str, p: dict[str, Any], q: dict[str, Any]) -> PaymentOutcome:
    state = quote_state(q)
    if state == "PAID":
        return _settle(core, ref, p, q)
    if state == "UNPAID":
        return _check_inputs_after_unpaid(core, ref, p, "the mint did not pay the invoice")
    return PaymentOutcome("pending", message=f"the payment is in flight ({state.lower()})")


def _after_error(
    core: CashuCore, ref: str, p: dict[str, Any], exc: CashuMintError
) -> PaymentOutcome:
    """The melt was refused: look at the quote before concluding anything."""
    try:
        q = core.client.get_melt_quote(ref)
    except CashuError:
        return PaymentOutcome(
            "pending", message=f"the mint refused the payment ({exc.detail}); state unknown"
        )
    state = quote_state(q)
    if state == "UNPAID":
        return _check_inputs_after_unpaid(
            core, ref, p, f"the mint refused the payment ({exc.detail})"
        )
    return _apply(core, ref, p, q)


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


def _settle(core: CashuCore, ref: str, p: dict[str, Any], q: dict[str, Any]) -> PaymentOutcome:
    """Apply a PAID melt: drop the inputs, add the change, record fees and preimage.

    The fee is what left the wallet beyond the amount: inputs (and the swap's input fee)
    minus the change the mint returned, counted from the mint's change signatures, never
    assumed to be the reserve. When the change cannot be read now the payment stays in
    flight (nothing applied) rather than be settled with a guessed fee."""
    st = core.state
    blank = p["blank"]
    signatures = q.get("change")
    lost_outputs = False
    if isinstance(signatures, list) and signatures:
        returned = _returned(signatures)
        outputs = core.make_outputs(blank["keyset_id"], [1] * blank["count"], blank["start"])
        try:
            change = core.to_proofs(outputs, signatures)
        except SignatureError:
            # not signed on the outputs this state recorded: a run whose write was lost sent
            # the melt with renewed ones, at counters past ours; heal's scan restores them
            log.warning("melt %s: change is not on our recorded outputs; recovering it", ref)
            change, lost_outputs = [], True
        except CashuError:
            return PaymentOutcome("pending", message="the payment went through; change pending")
    elif blank["count"] and signatures is None:  # the mint does not say: restore our blanks
        try:
            change, _ = core.restore_range(blank["keyset_id"], blank["start"], blank["count"])
        except CashuError:
            return PaymentOutcome("pending", message="the payment went through; change pending")
        returned = sum(c["amount"] for c in change)
    else:
        change, returned = [], 0
    room = p["inputs_total"] - p["amount"]  # the most change there can be
    if not 0 <= returned <= room:
        log.warning("melt %s: the mint reports an impossible change amount", ref)
        returned = sum(c["amount"] for c in change)
    st.remove_proofs(p["proofs"])
    st.add_proofs(change)
    charged = p["inputs_total"] + p["swap_fee"] - returned
    fees_msat = max(charged * 1000 - p["amount_msat"], 0)
    preimage = q.get("payment_preimage") or None
    outcome = PaymentOutcome("settled", preimage, fees_msat)
    _finish(core, ref, outcome, tx_state="settled")
    if lost_outputs:
        _heal_quietly(core)
    return outcome


def _returned(signatures: list[Any]) -> int:
    """The change amount the mint signed (-1 when its answer is malformed)."""
    total = 0
    for sig in signatures:
        amount = sig.get("amount") if isinstance(sig, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return -1
        total += amount
    return total


def _heal_quietly(core: CashuCore) -> None:
    """heal(), or leave it to the next sync when the mint does not answer now."""
    try:
        core.heal()
    except CashuError:
        log.info("heal failed; the next sync heals")
        core.state.heal_due = True


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
    """What became of a claimed melt, applied to the state. Reached after a crash or a lost
    write, so the state may also hold proofs the mint has since seen spent (an earlier
    run's write lost): once the melt is decided, heal first, so none is counted or spent
    again (not while it is in flight: wake-ups ask often and heal costs a few calls)."""
    ref = prepared.reference
    done = _done_outcome(core, ref)
    if done is not None:
        return done
    p = _payment(core, prepared)
    try:
        q = core.client.get_melt_quote(ref)
    except CashuError as exc:
        return PaymentOutcome("pending", message=f"could not ask the mint: {exc}")
    state = quote_state(q)
    if state not in ("PAID", "UNPAID"):
        return _apply(core, ref, p, q)  # in flight
    try:
        swapped = swap.finish(core, ref, p)  # the swap done but unrecorded: take its outputs
    except CashuError as exc:
        return PaymentOutcome("pending", message=f"could not ask the mint: {exc}")
    if swapped == "pending":
        return PaymentOutcome("pending", message="the swap before the payment is in flight")
    if state == "PAID" and swapped != "done":  # paid with inputs only that swap could give
        log.warning("melt %s: paid, but its swap's outputs are not found", ref)
        core.state.heal_due = True
        return PaymentOutcome("pending", message="the payment went through; change pending")
    _heal_quietly(core)
    if state == "PAID":
        return _apply(core, ref, p, q)
    if swapped == "stale":
        return _unswapped(core, ref, p, "the mint did not pay the invoice", swapped)
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
        state = quote_state(q)
        if state == "PAID":
            try:
                swapped = swap.finish(core, ref, p)
            except CashuError:
                continue
            if swapped == "done":
                _settle(core, ref, p, q)
        elif state == "UNPAID" and core.env.now - int(p.get("sent_at", 0)) > SENT_GRACE_SECONDS:
            p["state"] = "prepared"
