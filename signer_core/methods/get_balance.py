"""get_balance: the spendable balance in msat, from the wallet's own state (no network)."""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"balance": ctx.wallet.get_balance_msat()}
