"""get_balance: the balance this connection may spend, in msat, from the wallet's own state.

An isolated connection sees its own balance; any other the main balance, which leaves out
what isolated connections hold (signer_core/isolation.py).
"""

from __future__ import annotations

from typing import Any

from signer_core import isolation
from signer_core.methods import MethodContext


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    isolation.settle_incoming(ctx.state, ctx.wallet, ctx.now)
    return {"balance": isolation.balance_msat(ctx.state, ctx.connection, ctx.wallet)}
