"""lookup_invoice: a transaction of this wallet by payment hash or invoice, else NOT_FOUND."""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import LookupInvoiceParams, parse_params


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(LookupInvoiceParams, params)
    tx = ctx.wallet.lookup_invoice(
        payment_hash=p.payment_hash.lower() if p.payment_hash else None, invoice=p.invoice
    )
    if tx is None:
        raise NwcError(ErrorCode.NOT_FOUND, "no transaction of this wallet matches")
    return tx.to_nip47()
