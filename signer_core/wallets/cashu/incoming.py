"""Incoming Lightning payments through the mint (NUT-04 mint quotes) and the sync loop.

A pending mint quote lives in ``data["mint_quotes"]`` until it is minted, expires or
vanishes. When the mint reports it PAID, the outputs (keyset, NUT-13 counter range, amounts)
are fixed in the quote entry *before* the mint request, so a retry after a lost answer sends
the very same outputs, and "already signed" / "already issued" is answered by restore.

Checks back off with the quote's age (every sync while fresh, then every minute, then every
ten minutes) and at most ``MAX_QUOTE_CHECKS`` quotes are asked per sync, newest first, so a
pile of never-paid invoices cannot slow every request down.
"""

from __future__ import annotations

import logging
from typing import Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import Transaction
from signer_core.wallets.cashu.amounts import split_amount
from signer_core.wallets.cashu.client import (
    CODE_KEYSET_INACTIVE,
    CODE_KEYSET_UNKNOWN,
    CODE_OUTPUTS_SIGNED,
    CODE_QUOTE_EXPIRED,
    CODE_QUOTE_ISSUED,
    CODE_QUOTE_NOT_PAID,
    CashuError,
    CashuMintError,
    CashuProtocolError,
    MintUnreachable,
)
from signer_core.wallets.cashu.core import CashuCore

log = logging.getLogger(__name__)

MAX_QUOTE_CHECKS = 10


def nwc_error(exc: CashuError, what: str) -> NwcError:
    if isinstance(exc, CashuMintError):
        return NwcError(ErrorCode.OTHER, f"the mint refused to {what} ({exc.detail})")
    if isinstance(exc, MintUnreachable):
        return NwcError(ErrorCode.OTHER, f"could not {what}: {exc}")
    return NwcError(ErrorCode.INTERNAL, f"could not {what}: {exc}")


def make_invoice(
    core: CashuCore,
    amount_msat: int,
    description: str | None,
    description_hash: str | None,
    metadata: dict[str, Any] | None,
) -> Transaction:
    from signer_core.protocol.bolt11 import InvalidInvoice, decode

    if amount_msat <= 0:
        raise NwcError(ErrorCode.OTHER, "amount must be positive")
    if amount_msat % 1000:
        raise NwcError(
            ErrorCode.OTHER, "amount must be a whole number of satoshis (Cashu mints in sats)"
        )
    if description_hash:
        raise NwcError(
            ErrorCode.NOT_IMPLEMENTED, "Cashu mints cannot make invoices with a description_hash"
        )
    sats = amount_msat // 1000
    try:
        quote = core.client.mint_quote(sats, core.unit, description)
    except CashuMintError as exc:
        if not description or not exc.mentions("description"):
            raise nwc_error(exc, "make an invoice") from None
        try:  # this mint's backend takes no descriptions: an invoice without one still works
            quote = core.client.mint_quote(sats, core.unit, None)
        except CashuError as exc2:
            raise nwc_error(exc2, "make an invoice") from None
    except CashuError as exc:
        raise nwc_error(exc, "make an invoice") from None
    quote_id, request = quote.get("quote"), quote.get("request")
    if not isinstance(quote_id, str) or not isinstance(request, str):
        raise NwcError(ErrorCode.INTERNAL, "the mint returned a malformed mint quote")
    try:
        inv = decode(request)
    except InvalidInvoice as exc:
        raise NwcError(ErrorCode.INTERNAL, f"the mint returned an invalid invoice: {exc}") from None
    if inv.amount_msat != amount_msat:
        raise NwcError(ErrorCode.INTERNAL, "the mint's invoice is for a different amount")
    now = core.env.now
    expires_at = int(quote.get("expiry") or inv.expires_at)
    core.state.mint_quotes[quote_id] = {
        "request": request,
        "payment_hash": inv.payment_hash,
        "amount": sats,
        "expiry": expires_at,
        "created_at": now,
    }
    tx = Transaction(
        type="incoming",
        state="pending",
        invoice=request,
        payment_hash=inv.payment_hash,
        amount=amount_msat,
        created_at=now,
        description=description if description is not None else inv.description,
        description_hash=inv.description_hash,
        expires_at=expires_at,
        metadata=metadata,
    )
    core.state.add_tx(quote_id, tx)
    return tx


# When this process last asked the mint about a quote. Kept in memory, not in the sealed
# state: a check that finds nothing must not cost a state write (writes are the user's bill),
# so a warm instance throttles its checks and a cold one simply asks again.
LAST_CHECKED: dict[str, int] = {}


def _check_interval(age: int) -> int:
    return 0 if age < 300 else 60 if age < 3600 else 600


def due_quotes(core: CashuCore) -> list[str]:
    """Quote ids worth asking the mint about now, newest first, at most MAX_QUOTE_CHECKS."""
    now = core.env.now
    due = []
    for quote_id, q in core.state.mint_quotes.items():
        age = now - int(q.get("created_at", now))
        expired = now >= int(q.get("expiry") or 0)
        waited = now - LAST_CHECKED.get(quote_id, 0)
        if "outputs" in q or expired or waited >= _check_interval(age):
            due.append((int(q.get("created_at", 0)), quote_id))
    due.sort(reverse=True)
    return [quote_id for _, quote_id in due[:MAX_QUOTE_CHECKS]]


def wake_at(core: CashuCore) -> int | None:
    """The soonest time a pending quote or payment is worth looking at again."""
    now = core.env.now
    times = []
    for q in core.state.mint_quotes.values():
        age = now - int(q.get("created_at", now))
        at = now + max(_check_interval(age), 10)
        expiry = int(q.get("expiry") or 0)
        if expiry > now:
            at = min(at, expiry + 1)
        times.append(at)
    if (
        core.state.pending_outputs
        or core.state.heal_due
        or any(p.get("state") == "sent" for p in core.state.payments.values())
    ):
        times.append(now + 30)
    return min(times) if times else None


def settle_quote(core: CashuCore, quote_id: str) -> Transaction | None:
    """Ask the mint about one pending quote; mint it when paid. The received transaction,
    or None (still pending, expired, failed)."""
    q = core.state.mint_quotes[quote_id]
    if "outputs" not in q:
        LAST_CHECKED[quote_id] = core.env.now
        try:
            remote = core.client.get_mint_quote(quote_id)
        except CashuMintError as exc:
            if exc.mentions("not found"):
                return close_quote(core, quote_id, "failed")
            raise
        state = str(remote.get("state") or ("PAID" if remote.get("paid") else "UNPAID")).upper()
        if state == "UNPAID":
            if core.env.now >= int(q.get("expiry") or 0):
                return close_quote(core, quote_id, "expired")
            return None
        if state == "ISSUED":  # minted by a run whose state was lost: recover by restore
            recovered = core.heal()
            return close_quote(core, quote_id, "settled" if recovered else "failed")
        keyset_id = core.active_keyset()
        amounts = split_amount(int(q["amount"]))
        start = core.state.take_counters(keyset_id, len(amounts))
        q["outputs"] = {"keyset_id": keyset_id, "start": start, "amounts": amounts}
    spec = q["outputs"]
    outputs = core.make_outputs(spec["keyset_id"], spec["amounts"], spec["start"])
    try:
        signatures = core.client.mint(quote_id, [o.blinded() for o in outputs])
    except CashuMintError as exc:
        if exc.mentions("pending"):
            # another run is minting this quote right now ("Mint quote already pending."):
            # keep the quote and its outputs; next time the mint says "already issued" and
            # restore finds what that run was given. Writing it off here loses the money.
            return None
        if exc.code in (CODE_OUTPUTS_SIGNED, CODE_QUOTE_ISSUED) or exc.mentions("already"):
            found, _ = core.restore_range(spec["keyset_id"], spec["start"], len(outputs))
            added = core.keep_unspent(found)
            if not added and exc.code == CODE_QUOTE_ISSUED:
                added = core.heal()
            return close_quote(core, quote_id, "settled" if added else "failed")
        if exc.code == CODE_QUOTE_NOT_PAID:
            return None
        if exc.code in (CODE_KEYSET_UNKNOWN, CODE_KEYSET_INACTIVE) or exc.mentions("keyset"):
            # the mint rotated its keys: nothing was signed, so take fresh outputs next time
            core.load_keysets(force=True)
            del q["outputs"]
            return None
        if exc.code == CODE_QUOTE_EXPIRED or exc.mentions("expired"):
            return close_quote(core, quote_id, "expired")
        raise
    proofs = core.to_proofs(outputs, signatures)
    if sum(p["amount"] for p in proofs) != int(q["amount"]):
        raise CashuProtocolError("the mint signed a different amount than the quote")
    core.state.add_proofs(proofs)
    return close_quote(core, quote_id, "settled")


def close_quote(core: CashuCore, quote_id: str, tx_state: str) -> Transaction | None:
    core.state.mint_quotes.pop(quote_id, None)
    tx = core.state.tx_by_ref(quote_id, "incoming")
    if tx is None:
        return None
    tx["state"] = tx_state
    if tx_state != "settled":
        return None
    tx["settled_at"] = core.env.now
    return Transaction.from_dict(tx)


def sync(core: CashuCore) -> list[Transaction]:
    """Settle due quotes, in-flight melts and unknown swaps; stops at the first transport
    failure (the caller's wake_at brings us back)."""
    from signer_core.wallets.cashu import payments

    received: list[Transaction] = []
    try:
        for quote_id in due_quotes(core):
            tx = settle_quote(core, quote_id)
            if tx is not None:
                received.append(tx)
        payments.sync_sent(core)
        if core.state.pending_outputs or core.state.heal_due:
            core.heal()
    except MintUnreachable as exc:
        log.info("sync stopped: %s", exc)
    except CashuError as exc:
        log.warning("sync stopped: %s", exc)
    return received
