"""list_transactions: the connection's transactions, newest first, 20 a page by default.

An isolated connection lists only its own; the others list everything no isolated
connection owns. With no isolated connection the backend pages itself; otherwise the
filter runs over the backend's whole matching list and pages after it.
"""

from __future__ import annotations

from typing import Any

from signer_core import isolation
from signer_core.methods import MethodContext
from signer_core.protocol.models import ListTransactionsParams, parse_params

SCAN_LIMIT = 10_000  # the Cashu backend keeps 2,000 finished transactions


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(ListTransactionsParams, params)
    isolation.settle_incoming(ctx.state, ctx.wallet, ctx.now)
    filtered = isolation.has_isolated(ctx.state) or bool(ctx.state.owned_txs)
    txs = ctx.wallet.list_transactions(
        from_time=p.from_,
        until=p.until,
        limit=SCAN_LIMIT if filtered else p.limit,
        offset=0 if filtered else p.offset,
        unpaid=p.unpaid,
        tx_type=p.type,
    )
    if filtered:
        mine = [tx for tx in txs if isolation.visible(ctx.state, ctx.connection, tx.payment_hash)]
        txs = mine[p.offset : p.offset + p.limit]
    return {"transactions": [tx.to_nip47() for tx in txs]}
