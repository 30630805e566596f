"""cancel_hold_invoice (NWC-03): fail a held payment back to the payer.

No backend serves it yet: Spark's SDK has no call that fails a held HTLC early (it returns
to the payer at its expiry; docs/spark-extensions.md), and Cashu holds nothing. A backend
that could would implement ``extensions.HoldInvoices.cancel_hold_invoice`` and list the
method; the ledger then makes a repeated cancel harmless.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.methods import MethodContext
from signer_core.protocol.models import _Params, parse_params
from signer_core.wallets.extensions import HoldInvoices, require


class CancelHoldInvoiceParams(_Params):
    payment_hash: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(CancelHoldInvoiceParams, params)
    wallet = require(ctx.wallet, HoldInvoices, "cancel_hold_invoice")  # type: ignore[type-abstract]
    wallet.cancel_hold_invoice(payment_hash=p.payment_hash.lower())
    return {}
