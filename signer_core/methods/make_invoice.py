"""make_invoice: a bolt11 the wallet will settle on a later invocation once it is paid.

An isolated connection's invoice is recorded as its own: the receipt is credited to its
balance when the backend settles it (isolation.settle_incoming).
"""

from __future__ import annotations

from typing import Any

from signer_core import isolation
from signer_core.methods import MethodContext
from signer_core.protocol.models import MakeInvoiceParams, parse_params


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(MakeInvoiceParams, params)
    tx = ctx.wallet.make_invoice(
        amount_msat=p.amount,
        description=p.description,
        description_hash=p.description_hash.lower() if p.description_hash else None,
        expiry=p.expiry,
        metadata=p.metadata,
    )
    isolation.record(ctx.state, ctx.connection, tx.payment_hash, "incoming", ctx.now)
    return tx.to_nip47()
