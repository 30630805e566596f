"""get_budget (non-standard, used by management UIs): the connection's budget and usage."""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext
from signer_core.policy import budget_result


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    return budget_result(ctx.connection, ctx.state.ledger, ctx.now)
