"""receive (NWC-321): a BIP-321 URI a payer can pay, `bitcoin:?lightning=<bolt11>`.

The invoice is make_invoice's, made by its own handler (so isolated sub-wallets and every
rule of make_invoice apply unchanged); this module only wraps it in the URI form NWC-321
returns, with the payment hash as the transaction id that lookup_invoice and
list_transactions know it by. No backend of ours can make a BOLT12 offer or an invoice
without an amount, so `amount` is required here (docs/nwc-extensions.md).
"""

from __future__ import annotations

from typing import Any

from signer_core.methods import MethodContext
from signer_core.methods import make_invoice as make_invoice_method
from signer_core.protocol.bip321 import bolt11_uri
from signer_core.protocol.errors import ErrorCode, NwcError


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("amount") is None:
        raise NwcError(
            ErrorCode.NOT_IMPLEMENTED,
            f"this wallet's backend ({ctx.wallet.kind}) cannot make an invoice the payer "
            "chooses the amount of: pass params.amount in msat",
        )
    forwarded: dict[str, Any] = {
        k: params[k] for k in ("amount", "description", "metadata") if k in params
    }
    try:
        tx = make_invoice_method.handle(ctx, forwarded)
    except NwcError as exc:
        if exc.code == ErrorCode.OTHER and exc.message.startswith("invalid params"):
            raise NwcError(ErrorCode.BAD_REQUEST, exc.message) from None
        raise
    return {"bip321": bolt11_uri(str(tx["invoice"])), "transaction_id": str(tx["payment_hash"])}
