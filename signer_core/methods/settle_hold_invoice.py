"""settle_hold_invoice (NWC-03): claim a held payment with its preimage, exactly once.

Ledgered, so a re-delivered request gets its stored reply; a new request for a hold that is
settled already claims nothing (the backend answers from its state, and the SDK refuses a
second claim). A fresh settlement is also a ``payment_received`` notification.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.methods import MethodContext
from signer_core.protocol.models import _Params, parse_params
from signer_core.wallets.extensions import HoldInvoices, require


class SettleHoldInvoiceParams(_Params):
    preimage: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    p = parse_params(SettleHoldInvoiceParams, params)
    wallet = require(ctx.wallet, HoldInvoices, "settle_hold_invoice")  # type: ignore[type-abstract]
    tx = wallet.settle_hold_invoice(preimage=p.preimage.lower())
    if tx is not None:
        ctx.notifications.append(("payment_received", tx.to_nip47()))
    return {}
