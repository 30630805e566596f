"""lookup_invoice: a transaction of this wallet by payment hash or invoice, else NOT_FOUND.

The one place an invoice is turned into the payment hash the backends look up by. An
isolated connection finds only its own transactions, the others none of an isolated one's.
"""

from __future__ import annotations

from typing import Any

from signer_core import isolation
from signer_core.methods import MethodContext
from signer_core.protocol.bolt11 import InvalidInvoice, decode
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import LookupInvoiceParams, parse_params


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(LookupInvoiceParams, params)
    payment_hash = p.payment_hash
    if not payment_hash:
        assert p.invoice is not None  # the params model requires one of the two
        try:
            payment_hash = decode(p.invoice).payment_hash
        except InvalidInvoice as exc:
            raise NwcError(ErrorCode.OTHER, f"invalid invoice: {exc}") from None
    isolation.settle_incoming(ctx.state, ctx.wallet, ctx.now)
    tx = ctx.wallet.lookup_invoice(payment_hash=payment_hash.lower())
    if tx is None or not isolation.visible(ctx.state, ctx.connection, tx.payment_hash):
        raise NwcError(ErrorCode.NOT_FOUND, "no transaction of this wallet matches")
    return tx.to_nip47()
