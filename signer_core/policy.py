"""Per-connection rules: allowed methods, expiry, budgets.

Budgets follow Alby Hub: the amount counted against a budget is what settled in the current
period plus every payment still pending with its fee reserve, so two concurrent payments
can never overspend it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signer_core.methods import ADMIN_METHODS, ALWAYS_ALLOWED
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.state import Connection, LedgerEntry, Renewal


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


def pending_msat(conn_id: str, ledger: dict[str, LedgerEntry]) -> int:
    """Amount plus fee reserve of this connection's payments that are claimed, not done."""
    total = 0
    for entry in ledger.values():
        if entry.connection_id == conn_id and entry.status == "claimed" and entry.payment:
            total += int(entry.payment["amount_msat"]) + int(entry.payment["fee_reserve_msat"])
    return total


def used_msat(conn: Connection, ledger: dict[str, LedgerEntry], now: int) -> int:
    roll_period(conn, now)
    return conn.spent_msat + pending_msat(conn.id, ledger)


def check_budget(
    conn: Connection, ledger: dict[str, LedgerEntry], amount_msat: int, reserve_msat: int, now: int
) -> None:
    """Refuse with QUOTA_EXCEEDED when this payment (with its reserve) would overspend."""
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


def record_settled(conn: Connection, amount_msat: int, fees_msat: int, now: int) -> None:
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
