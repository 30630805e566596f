"""Budgets, periods and connection rules (pure functions, no wallet needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signer_core.policy import (
    budget_result,
    check_budget,
    check_connection,
    period_end,
    period_start,
    record_settled,
    used_msat,
)
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.state import Budget, Connection, LedgerEntry


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


NOW = ts(2026, 11, 21, 15, 30)  # a Saturday


@pytest.mark.parametrize(
    "renewal, start, end",
    [
        ("daily", ts(2026, 11, 21), ts(2026, 11, 22)),
        ("weekly", ts(2026, 11, 16), ts(2026, 11, 23)),
        ("monthly", ts(2026, 11, 1), ts(2026, 12, 1)),
        ("yearly", ts(2026, 1, 1), ts(2027, 1, 1)),
        ("never", 0, None),
    ],
)
def test_periods(renewal: str, start: int, end: int | None) -> None:
    assert period_start(renewal, NOW) == start  # type: ignore[arg-type]
    assert period_end(renewal, NOW) == end  # type: ignore[arg-type]


def test_december_rolls_into_january() -> None:
    assert period_end("monthly", ts(2026, 12, 31, 23)) == ts(2027, 1, 1)


def conn(budget: Budget | None = None, **kw: object) -> Connection:
    return Connection(
        id="c1",
        name="n",
        client_pubkey="aa" * 32,
        service_pubkey="bb" * 32,
        methods=["pay_invoice"],
        created_at=0,
        budget=budget,
        **kw,  # type: ignore[arg-type]
    )


def claimed(amount: int, reserve: int, cid: str = "c1") -> LedgerEntry:
    return LedgerEntry(
        request_id=f"r{amount}{cid}",
        connection_id=cid,
        method="pay_invoice",
        status="claimed",
        created_at=0,
        updated_at=0,
        payment={"amount_msat": amount, "fee_reserve_msat": reserve},
    )


def test_budget_counts_settled_plus_pending_with_reserve() -> None:
    c = conn(Budget(100_000, "daily"))
    record_settled(c, 40_000, 1_000, NOW)
    ledger = {"a": claimed(20_000, 2_000), "b": claimed(50_000, 0, cid="other")}
    assert used_msat(c, ledger, NOW) == 63_000
    check_budget(c, ledger, 30_000, 7_000, NOW)  # exactly at the limit
    with pytest.raises(NwcError) as exc:
        check_budget(c, ledger, 30_000, 7_001, NOW)
    assert exc.value.code == ErrorCode.QUOTA_EXCEEDED
    assert "37000 of 100000 msat left" in exc.value.message


def test_usage_resets_when_the_period_renews() -> None:
    c = conn(Budget(100_000, "daily"))
    record_settled(c, 90_000, 0, NOW)
    assert used_msat(c, {}, NOW) == 90_000
    assert used_msat(c, {}, NOW + 86_400) == 0


def test_no_budget_means_no_limit_and_empty_get_budget() -> None:
    c = conn()
    check_budget(c, {}, 10**12, 10**9, NOW)
    assert budget_result(c, {}, NOW) == {}


def test_get_budget_result() -> None:
    c = conn(Budget(50_000, "never"))
    record_settled(c, 1_000, 10, NOW)
    assert budget_result(c, {}, NOW) == {
        "used_budget": 1_010,
        "total_budget": 50_000,
        "renewal_period": "never",
    }


def test_connection_rules() -> None:
    check_connection(conn(), "pay_invoice", NOW)
    check_connection(conn(), "get_info", NOW)  # always allowed
    with pytest.raises(NwcError) as restricted:
        check_connection(conn(), "make_invoice", NOW)
    assert restricted.value.code == ErrorCode.RESTRICTED
    with pytest.raises(NwcError) as expired:
        check_connection(conn(expires_at=NOW), "pay_invoice", NOW)
    assert expired.value.code == ErrorCode.UNAUTHORIZED
