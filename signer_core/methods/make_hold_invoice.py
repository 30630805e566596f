"""make_hold_invoice (NWC-03): an invoice for the client's payment hash, held until settled.

The backend must implement ``extensions.HoldInvoices`` (Spark does; Cashu cannot hold a
payment and answers NOT_IMPLEMENTED before this module is reached). Ledgered: a re-delivered
request gets the same invoice back instead of a second one for the same hash.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.methods import MethodContext
from signer_core.protocol.models import _Params, parse_params
from signer_core.wallets.extensions import HoldInvoices, require

HEX32 = r"^[0-9a-fA-F]{64}$"


class MakeHoldInvoiceParams(_Params):
    amount: int = Field(gt=0)
    payment_hash: str = Field(pattern=HEX32)
    description: str | None = Field(default=None, max_length=639)
    description_hash: str | None = Field(default=None, pattern=HEX32)
    expiry: int | None = Field(default=None, gt=0, le=30 * 24 * 3600)
    min_cltv_expiry_delta: int | None = Field(default=None, gt=0, le=2016)
    metadata: dict[str, Any] | None = None


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(MakeHoldInvoiceParams, params)
    wallet = require(ctx.wallet, HoldInvoices, "make_hold_invoice")  # type: ignore[type-abstract]
    tx = wallet.make_hold_invoice(
        amount_msat=p.amount,
        payment_hash=p.payment_hash.lower(),
        description=p.description,
        description_hash=p.description_hash.lower() if p.description_hash else None,
        expiry=p.expiry,
        min_cltv_expiry_delta=p.min_cltv_expiry_delta,
    )
    return tx.to_nip47()
