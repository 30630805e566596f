"""list_connections (admin only): every connection with its permissions, budget and usage.

Read-only: the budget period is rolled, and isolated receipts credited, on copies, so
listing never writes the state.
Contract: docs/nwc-admin-methods.md.
"""

from __future__ import annotations

import copy
from typing import Any

from signer_core import isolation
from signer_core.methods import MethodContext, available_notifications
from signer_core.policy import period_end, used_msat
from signer_core.state import Connection, WalletState


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    # oldest first; connections made in the same second by name (then id), so the order
    # never depends on the random ids (docs/nwc-admin-methods.md)
    state = ctx.state
    if isolation.has_isolated(state):  # balances as they are, without writing the credit
        state = copy.deepcopy(state)
        isolation.settle_incoming(state, ctx.wallet, ctx.now)
    conns = sorted(state.connections.values(), key=lambda c: (c.created_at, c.name, c.id))
    return {"connections": [describe(ctx, c, state) for c in conns]}


def describe(ctx: MethodContext, conn: Connection, state: WalletState) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": conn.id,
        "name": conn.name,
        "wallet_pubkey": conn.service_pubkey,
        "request_methods": [m for m in conn.methods if m != "notifications"],
        "notification_types": available_notifications(conn, ctx.wallet.notifications),
        "admin": conn.admin,
        "isolated": conn.isolated,
        "created_at": conn.created_at,
        "last_used_at": conn.last_used_at,
        "expires_at": conn.expires_at,
        "expired": conn.expires_at is not None and ctx.now >= conn.expires_at,
    }
    if conn.isolated:  # what it may spend: its balance less its payments in flight
        item["balance"] = isolation.available_msat(state, conn)
    if conn.budget is not None:
        item["max_amount"] = conn.budget.max_msat
        item["budget_renewal"] = conn.budget.renewal
        item["used_budget"] = used_msat(copy.copy(conn), ctx.state.ledger, ctx.now)
        renews_at = period_end(conn.budget.renewal, ctx.now)
        if renews_at is not None:
            item["renews_at"] = renews_at
    return item
