"""list_transactions: the wallet's transactions, newest first, 20 a page by default."""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext
from signer_core.protocol.models import ListTransactionsParams, parse_params


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(ListTransactionsParams, params)
    txs = ctx.wallet.list_transactions(
        from_time=p.from_,
        until=p.until,
        limit=p.limit,
        offset=p.offset,
        unpaid=p.unpaid,
        tx_type=p.type,
    )
    return {"transactions": [tx.to_nip47() for tx in txs]}
