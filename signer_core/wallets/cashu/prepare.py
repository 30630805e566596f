"""Preparing an outgoing payment: melt quote (NUT-05), input selection with NUT-02 fees,
a swap (NUT-03) when no exact selection exists, reservation, NUT-08 blank output counters.

Nothing moves to the payee here: the swap only exchanges our own proofs, and its outputs
are deterministic (NUT-13) so a lost answer can be restored. The pipeline writes its claim
after this returns and only then calls ``payments.send``.
"""

from __future__ import annotations

import time
from typing import Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import PreparedPayment, Transaction
from signer_core.wallets.cashu.amounts import (
    blank_outputs_count,
    select_covering,
    select_exact,
    send_target,
    split_amount,
)
from signer_core.wallets.cashu.client import (
    CODE_KEYSET_INACTIVE,
    CODE_KEYSET_UNKNOWN,
    CODE_OUTPUTS_SIGNED,
    CODE_PROOFS_PENDING,
    CODE_PROOFS_SPENT,
    CashuError,
    CashuMintError,
    MintUnreachable,
)
from signer_core.wallets.cashu.core import CashuCore
from signer_core.wallets.cashu.payments import quote_state

SELECT_ATTEMPTS = 3
PENDING_WAIT_SECONDS = 0.5
# swap refusals that mean our state is stale, not that the payment is impossible
STALE_CODES = (CODE_PROOFS_SPENT, CODE_OUTPUTS_SIGNED, CODE_PROOFS_PENDING)
KEYSET_CODES = (CODE_KEYSET_UNKNOWN, CODE_KEYSET_INACTIVE)


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
        raise NwcError(
            ErrorCode.PAYMENT_FAILED, f"the mint refused the payment ({exc.detail})"
        ) from None
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
        # what the claim records; the inputs themselves (bearer secrets) stay in the wallet
        # state only, where send/reconcile find them under the reference
        data={
            **{k: payment[k] for k in ("amount", "fee_reserve", "input_fee", "swap_fee")},
            **{k: payment[k] for k in ("inputs_total", "blank")},
            "inputs": len(secrets),
        },
    )


class StaleInputs(CashuError):
    """Inputs our state holds as spendable are spent (a lost write after the mint acted) or
    held pending by a concurrent run, as the mint reports (NUT-07)."""

    def __init__(self, pending: bool) -> None:
        held = "pending" if pending else "spent"
        super().__init__(f"the mint holds some of the selected inputs as {held}")
        self.pending = pending


def _select_retrying(core: CashuCore, amount: int, fee_reserve: int) -> tuple[list[Any], int]:
    """_select, again when it met a stale state: inputs already spent or counters already
    signed (a lost write after an earlier run; heal() drops the spent proofs and restores
    what that run was given), inputs held pending by a concurrent run (wait for it, then
    heal), or a keyset the mint retired."""
    for attempt in range(SELECT_ATTEMPTS):
        try:
            return _select(core, amount, fee_reserve)
        except StaleInputs as exc:
            if attempt + 1 == SELECT_ATTEMPTS:
                raise
            if exc.pending:
                time.sleep(PENDING_WAIT_SECONDS)
            core.heal()
        except CashuMintError as exc:
            keyset_refused = exc.code in KEYSET_CODES or exc.mentions("keyset")
            if attempt + 1 == SELECT_ATTEMPTS or not (exc.code in STALE_CODES or keyset_refused):
                raise
            if keyset_refused:  # rotated keys: nothing was signed; use the current keyset
                core.load_keysets(force=True)
            elif exc.code == CODE_PROOFS_PENDING:
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
        _check_unspent(core, selected)
        return selected, 0
    send_total = send_target(target, ppk.get(core.active_keyset(), 0))
    inputs = select_covering(spendable, send_total, ppk)
    if inputs is None:
        _insufficient(core, amount, fee_reserve, spendable)
    assert inputs is not None
    swap_fee = core.fee_of(inputs)
    keep_total = sum(p["amount"] for p in inputs) - swap_fee - send_total
    return core.swap(inputs, split_amount(send_total), split_amount(keep_total)), swap_fee


def _check_unspent(core: CashuCore, proofs: list[Any]) -> None:
    """Inputs melted without a swap must be unspent at the mint: a state whose write was
    lost after the mint acted still holds proofs the mint spent, and the melt would be
    refused as "proofs already spent" after the claim. One NUT-07 call per payment."""
    states = set(core.proof_states(proofs).values())
    if states - {"UNSPENT"}:
        raise StaleInputs(pending="PENDING" in states)


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
