"""Per-connection rules: allowed methods, expiry, budgets, isolated balances.

Budgets follow Alby Hub: the amount counted against a budget is what settled in the current
period plus every payment still pending with its fee reserve, so two concurrent payments
can never overspend it. Isolated connections' balances are counted the same way
(signer_core/isolation.py, docs/isolated-connections.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signer_core import isolation
from signer_core.isolation import pending_msat
from signer_core.methods import ADMIN_METHODS, ALWAYS_ALLOWED, MethodContext
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.state import Connection, LedgerEntry, Renewal
from signer_core.wallets.base import PreparedPayment

__all__ = ["pending_msat"]  # re-exported: callers count pending payments through policy

# Backends whose prepare_payment takes the payment's inputs out of get_balance_msat at once
# (Cashu reserves its proofs, a swap's change included). Used only when the balance before
# prepare was not read: then for these the balance left after prepare must still cover the
# isolated funds (stricter than needed while change is in flight), and for any other backend
# the payment is subtracted as well. A backend missing here is only ever checked more strictly.
RESERVES_AT_PREPARE = frozenset({"cashu"})


def period_start(renewal: Renewal, now: int) -> int:
    """Start (UTC, unix s) of the budget period containing `now`."""
    if renewal == "never":
        return 0
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if renewal == "weekly":
        day -= timedelta(days=day.weekday())
    elif renewal == "monthly":
        day = day.replace(day=1)
    elif renewal == "yearly":
        day = day.replace(month=1, day=1)
    return int(day.timestamp())


def period_end(renewal: Renewal, now: int) -> int | None:
    """When the current period renews, or None for a budget that never renews."""
    if renewal == "never":
        return None
    start = datetime.fromtimestamp(period_start(renewal, now), UTC)
    if renewal == "daily":
        end = start + timedelta(days=1)
    elif renewal == "weekly":
        end = start + timedelta(days=7)
    elif renewal == "monthly":
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        end = start.replace(year=start.year + 1)
    return int(end.timestamp())


def roll_period(conn: Connection, now: int) -> None:
    """Reset settled usage when a new budget period has begun."""
    if conn.budget is None:
        return
    start = period_start(conn.budget.renewal, now)
    if conn.period_start != start:
        conn.period_start = start
        conn.spent_msat = 0


def used_msat(conn: Connection, ledger: dict[str, LedgerEntry], now: int) -> int:
    roll_period(conn, now)
    return conn.spent_msat + pending_msat(conn.id, ledger)


def check_budget(
    conn: Connection, ledger: dict[str, LedgerEntry], amount_msat: int, reserve_msat: int, now: int
) -> None:
    """Refuse with QUOTA_EXCEEDED when this payment (with its reserve) would overspend the
    budget, and with INSUFFICIENT_BALANCE when it would overspend an isolated connection's
    balance (both count payments in flight with their fee reserve)."""
    if conn.isolated:
        left = max(conn.balance_msat - pending_msat(conn.id, ledger), 0)
        if amount_msat + reserve_msat > left:
            raise NwcError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"payment of {amount_msat} msat plus up to {reserve_msat} msat fees exceeds "
                f"this isolated connection's balance ({left} msat)",
            )
    if conn.budget is None:
        return
    used = used_msat(conn, ledger, now)
    if used + amount_msat + reserve_msat > conn.budget.max_msat:
        left = max(conn.budget.max_msat - used, 0)
        raise NwcError(
            ErrorCode.QUOTA_EXCEEDED,
            f"payment of {amount_msat} msat plus up to {reserve_msat} msat fees exceeds the "
            f"connection's {conn.budget.renewal} budget ({left} of "
            f"{conn.budget.max_msat} msat left)",
        )


def balance_before_prepare(ctx: MethodContext) -> int | None:
    """The backend balance to pass to check_spend, read BEFORE prepare_payment; None (no
    read, no cost) unless a main connection pays while isolated connections hold funds."""
    if ctx.connection.isolated or not isolation.has_isolated(ctx.state):
        return None
    return ctx.wallet.get_balance_msat()


def check_spend(
    ctx: MethodContext, prepared: PreparedPayment, balance_before_msat: int | None = None
) -> None:
    """Everything a prepared payment must pass before its claim: an isolated connection
    spends only its own balance, any other connection only the main balance (never what
    isolated connections hold), and the budget. Records an isolated payer as the payment's
    owner. The caller cancels the prepared payment when this raises (nothing reserved).

    `balance_before_msat` is balance_before_prepare(ctx); without it the main balance is
    judged from the balance after prepare (see RESERVES_AT_PREPARE), which can refuse a
    payment the main balance covers while a swap's change is reserved."""
    state, conn = ctx.state, ctx.connection
    isolation.settle_incoming(state, ctx.wallet, ctx.now)  # a receipt may be uncredited yet
    if isolation.isolated_invoice(state, prepared.payment_hash):
        raise NwcError(
            ErrorCode.OTHER,
            "this invoice was made by an isolated connection of this wallet: move funds "
            "between connections with transfer_funds instead",
        )
    amount, reserve = prepared.amount_msat, prepared.fee_reserve_msat
    if not conn.isolated and isolation.has_isolated(state):
        if balance_before_msat is not None:
            left = balance_before_msat - amount - reserve
        else:
            after = ctx.wallet.get_balance_msat()
            left = after if state.backend in RESERVES_AT_PREPARE else after - amount - reserve
        held = isolation.isolated_msat(state)
        if left < held:
            raise NwcError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"payment of {amount} msat plus up to {reserve} msat fees exceeds the main "
                f"balance ({held} msat of this wallet belong to isolated connections)",
            )
    check_budget(conn, state.ledger, amount, reserve, ctx.now)
    isolation.record(state, conn, prepared.payment_hash, "outgoing", ctx.now)


def record_settled(conn: Connection, amount_msat: int, fees_msat: int, now: int) -> None:
    """A claimed payment settled: charge it (with its fees) to the budget, and to the
    balance of an isolated payer (never below zero: an overrun fee falls to the main)."""
    if conn.isolated:
        conn.balance_msat = max(conn.balance_msat - amount_msat - fees_msat, 0)
    if conn.budget is None:
        return
    roll_period(conn, now)
    conn.spent_msat += amount_msat + fees_msat


def check_connection(conn: Connection, method: str, now: int) -> None:
    """Connection-level rules: not expired, method granted."""
    if conn.expires_at is not None and now >= conn.expires_at:
        raise NwcError(ErrorCode.UNAUTHORIZED, "this connection has expired")
    if method in ADMIN_METHODS:
        if not conn.admin:
            raise NwcError(
                ErrorCode.RESTRICTED,
                f"{method} is for the wallet's admin connection only (the home page's); "
                "this connection may not manage connections",
            )
        return
    if method not in ALWAYS_ALLOWED and method not in conn.methods:
        raise NwcError(ErrorCode.RESTRICTED, f"this connection is not allowed to call {method}")


def budget_result(conn: Connection, ledger: dict[str, LedgerEntry], now: int) -> dict[str, object]:
    """The get_budget reply: {} for a connection without a budget (as Alby Hub answers)."""
    if conn.budget is None:
        return {}
    result: dict[str, object] = {
        "used_budget": used_msat(conn, ledger, now),
        "total_budget": conn.budget.max_msat,
        "renewal_period": conn.budget.renewal,
    }
    renews_at = period_end(conn.budget.renewal, now)
    if renews_at is not None:
        result["renews_at"] = renews_at
    return result
