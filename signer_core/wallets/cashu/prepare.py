"""Preparing an outgoing payment: melt quote (NUT-05), input selection with NUT-02 fees,
the plan of a swap (NUT-03) when no exact selection exists, reservation, NUT-08 blanks.

Nothing changes at the mint here: prepare only reads from it (melt quote, keysets, NUT-07
checkstate, NUT-09 restore), and reserves the inputs and the NUT-13 counters of the swap's
and the change's outputs in the state. The pipeline writes that state with its claim and
only then calls ``payments.send``, which swaps and melts; an attempt whose claim is never
written (a lost compare-and-swap, a crash) leaves nothing to undo at the mint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import FundsInFlight, PreparedPayment, Transaction
from signer_core.wallets.cashu import swap
from signer_core.wallets.cashu.amounts import (
    blank_outputs_count,
    fee_for,
    select_covering,
    select_exact,
    send_target,
    split_amount,
)
from signer_core.wallets.cashu.client import CashuError, CashuMintError, MintUnreachable
from signer_core.wallets.cashu.core import CashuCore
from signer_core.wallets.cashu.payments import quote_state
from signer_core.wallets.cashu.state import Proof

SELECT_ATTEMPTS = 3
PENDING_WAIT_SECONDS = 0.5


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
        _busy_if_in_flight(core, at_least)
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
            ErrorCode.PAYMENT_FAILED, f"the mint refused the invoice ({exc.detail})"
        ) from None
    except MintUnreachable as exc:
        raise NwcError(ErrorCode.OTHER, str(exc)) from None
    ref = str(quote.get("quote") or "")
    amount, fee_reserve = int(quote.get("amount", 0)), int(quote.get("fee_reserve", 0))
    if not ref or quote_state(quote) != "UNPAID" or fee_reserve < 0:
        raise NwcError(ErrorCode.PAYMENT_FAILED, "the mint returned an unusable melt quote")
    if not 0 <= amount * 1000 - inv.amount_msat < 1000:
        raise NwcError(
            ErrorCode.PAYMENT_FAILED,
            f"the mint quoted {amount} sat for an invoice of {inv.amount_msat} msat",
        )

    try:
        plan = _select_retrying(core, amount, fee_reserve)
    except CashuMintError as exc:
        raise NwcError(
            ErrorCode.PAYMENT_FAILED, f"the mint refused the payment ({exc.detail})"
        ) from None
    except CashuError as exc:
        raise NwcError(ErrorCode.OTHER, f"could not prepare the payment: {exc}") from None

    secrets = [p["secret"] for p in plan.inputs]
    st.reserve(secrets, ref)
    swap_plan: dict[str, Any] | None = None
    if plan.send:  # counters taken now, committed with the claim, used only by send
        swap_plan = {
            "keyset_id": plan.keyset_id,
            "start": st.take_counters(plan.keyset_id, len(plan.send) + len(plan.keep)),
            "send": plan.send,
            "keep": plan.keep,
            "fee": plan.swap_fee,
            "inputs": secrets,
        }
    blank: dict[str, Any] = {"keyset_id": "", "start": 0, "count": 0}
    if plan.n_blank:
        blank = {
            "keyset_id": plan.keyset_id,
            "start": st.take_counters(plan.keyset_id, plan.n_blank),
            "count": plan.n_blank,
        }
    payment = {
        "state": "prepared",
        "request_id": request_id,
        "invoice": invoice,
        "payment_hash": inv.payment_hash,
        "amount_msat": inv.amount_msat,
        "amount": amount,
        "fee_reserve": fee_reserve,
        "input_fee": plan.in_fee,
        "swap_fee": plan.swap_fee,
        "inputs_total": plan.total,
        "proofs": secrets,
        "blank": blank,
        "created_at": now,
    }
    if swap_plan is not None:
        payment["swap"] = swap_plan
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
        fee_reserve_msat=(plan.total + plan.swap_fee) * 1000 - inv.amount_msat,
        # what the claim records; the inputs themselves (bearer secrets) stay in the wallet
        # state only, where send/reconcile find them under the reference
        data={
            **{k: payment[k] for k in ("amount", "fee_reserve", "input_fee", "swap_fee")},
            **{k: payment[k] for k in ("inputs_total", "blank")},
            "inputs": len(secrets),
            "swap": swap.summary(swap_plan),
        },
    )


class StaleInputs(CashuError):
    """Inputs our state holds as spendable are spent (a lost write after the mint acted) or
    held pending by a concurrent run, as the mint reports (NUT-07)."""

    def __init__(self, pending: bool) -> None:
        held = "pending" if pending else "spent"
        super().__init__(f"the mint holds some of the selected inputs as {held}")
        self.pending = pending


class CountersTaken(StaleInputs):
    """The next NUT-13 counters are already signed (NUT-09): a run whose state was lost
    used them. heal() recovers what it was given and moves our counters past them."""

    def __init__(self) -> None:
        CashuError.__init__(self, "the mint already signed our next outputs")
        self.pending = False


@dataclass
class Plan:
    """How a payment will be paid: the inputs to reserve, what the melt spends, and the
    swap to run first (``send``/``keep`` amounts; none when ``send`` is empty)."""

    inputs: list[Proof]
    total: int  # the melt's inputs
    in_fee: int  # their NUT-02 input fee
    keyset_id: str  # of the new outputs (swap and blanks); "" when there are none
    n_blank: int  # NUT-08 blank outputs for the change
    send: list[int] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)
    swap_fee: int = 0


def _select_retrying(core: CashuCore, amount: int, fee_reserve: int) -> Plan:
    """_select, again when it met a stale state: inputs already spent or counters already
    signed (a lost write after an earlier run; heal() drops the spent proofs and restores
    what that run was given) or inputs held pending by a concurrent run (wait, then heal)."""
    for attempt in range(SELECT_ATTEMPTS):
        try:
            return _select(core, amount, fee_reserve)
        except StaleInputs as exc:
            if attempt + 1 == SELECT_ATTEMPTS:
                raise
            if exc.pending:
                time.sleep(PENDING_WAIT_SECONDS)
            core.heal()
    raise AssertionError("unreachable")  # pragma: no cover


def _select(core: CashuCore, amount: int, fee_reserve: int) -> Plan:
    """Inputs worth exactly amount + fee_reserve + their own input fee, or, when no subset
    fits exactly, inputs for a swap to such proofs. Only reads from the mint: the swap is
    planned here (outputs on counters checked free) and done by send after the claim."""
    ppk = core.ppk()
    target = amount + fee_reserve
    spendable = core.state.spendable()
    selected = select_exact(spendable, target, ppk)
    if selected is not None:
        _check_unspent(core, selected)
        total, in_fee = sum(p["amount"] for p in selected), core.fee_of(selected)
        n_blank = blank_outputs_count(total - amount - in_fee)
        return Plan(selected, total, in_fee, core.active_keyset() if n_blank else "", n_blank)
    for refreshed in (False, True):
        if refreshed:  # send will have the swap signed by this keyset: active now, not an
            core.load_keysets(force=True)  # hour ago (a refusal then fails the payment)
        keyset_id = core.active_keyset()
        ppk = core.ppk()
        ppk_active = ppk.get(keyset_id, 0)
        send_total = send_target(target, ppk_active)
        inputs = select_covering(spendable, send_total, ppk)
        if inputs is None:
            _insufficient(core, amount, fee_reserve, spendable)
    assert inputs is not None
    swap_fee = core.fee_of(inputs)
    send = split_amount(send_total)
    keep = split_amount(sum(p["amount"] for p in inputs) - swap_fee - send_total)
    in_fee = fee_for(len(send) * ppk_active)
    n_blank = blank_outputs_count(send_total - amount - in_fee)
    _check_unspent(core, inputs)
    _check_counters_free(core, keyset_id, len(send) + len(keep) + n_blank)
    return Plan(inputs, send_total, in_fee, keyset_id, n_blank, send, keep, swap_fee)


def _check_unspent(core: CashuCore, proofs: list[Any]) -> None:
    """The inputs must be unspent at the mint: a state whose write was lost after the mint
    acted still holds proofs the mint spent, and the swap or melt would be refused as
    "proofs already spent" after the claim. One NUT-07 call per payment."""
    states = set(core.proof_states(proofs).values())
    if states - {"UNSPENT"}:
        raise StaleInputs(pending="PENDING" in states)


def _check_counters_free(core: CashuCore, keyset_id: str, count: int) -> None:
    """The counters the claim will reserve must be unsigned (NUT-09 restore, a read): send
    could not tell a swap of its own on them from a lost run's, so it would fail."""
    _, last = core.restore_range(keyset_id, core.state.counter(keyset_id), count)
    if last >= 0:
        raise CountersTaken()


def _busy_if_in_flight(core: CashuCore, need: int) -> None:
    """Refuse for now, not for good, when reserved proofs would cover the payment."""
    if core.state.held() >= need:
        raise FundsInFlight(
            f"{core.state.held() - core.state.balance()} sat are reserved by payments in "
            "flight; retry when they finish"
        )


def _insufficient(core: CashuCore, amount: int, fee_reserve: int, spendable: list[Any]) -> None:
    balance = sum(p["amount"] for p in spendable)
    fees = core.fee_of(spendable)
    need = amount + fee_reserve + fees
    _busy_if_in_flight(core, need)
    extra = f" + up to {fees} sat input fees" if fees else ""
    raise NwcError(
        ErrorCode.INSUFFICIENT_BALANCE,
        f"insufficient balance: {balance} sat available, the payment needs {need} sat "
        f"({amount} sat + {fee_reserve} sat fee reserve{extra})",
    )
