"""pay (NWC-321): pay a BIP-321 URI, a bolt11, a lightning address or an LNURL-pay.

The payment instruction is resolved to one bolt11 BEFORE anything is reserved or claimed
(an LNURL server is asked for its invoice here, and only here); from then on the payment
goes through exactly pay_invoice's path (`pay_invoice.pay_bolt11`: quote and reserve,
`max_fee`, budget, claim, send). A re-delivered or resumed `pay` is answered from the
ledger or resumed from its stored PreparedPayment (`pay_invoice.resume`): it never asks
the LNURL server again and never pays twice.

BOLT12 offers (`lno=`) are paid by no backend of ours: breez-sdk-spark 0.27.2 parses them
but cannot send to one (its SendPaymentMethod has no BOLT12 variant), and Cashu mints melt
bolt11 only. A URI that also carries `lightning=` is paid through that instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signer_core.methods import MethodContext
from signer_core.methods.pay_invoice import pay_bolt11
from signer_core.protocol import bip321, lnurl
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import _Params, parse_params
from signer_core.wallets.base import http_transport, payment_network, wallet_config


class PayParams(_Params):
    payment: str = Field(min_length=1, max_length=bip321.MAX_URI_CHARS)
    amount: int | None = Field(default=None, gt=0)
    max_fee: int | None = Field(default=None, ge=0)
    payer_note: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] | None = None


def handle(ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
    try:
        p = parse_params(PayParams, params)
    except NwcError as exc:
        raise NwcError(ErrorCode.BAD_REQUEST, exc.message) from None
    found = bip321.parse(p.payment)
    amount = _agreed(found.amount_msat, p.amount)
    note = p.payer_note or None
    if found.bolt11:
        if note:
            raise bip321.bad("a bolt11 invoice cannot carry a payer note; nothing was paid")
        amount = _check_bolt11(ctx, found.bolt11, amount)
        return pay_bolt11(ctx, found.bolt11, amount, max_fee_msat=p.max_fee)
    if found.lnurl or found.lightning_address:
        try:
            invoice = _from_lnurl(ctx, found, amount, note)
            return pay_bolt11(ctx, invoice, None, max_fee_msat=p.max_fee)
        except NwcError as exc:
            # Past this point a refusal depends on the server's answer: stored as
            # PAYMENT_FAILED, so a re-delivery can never pay a new invoice after the app
            # was told this payment failed (request.STICKY_ERRORS).
            if exc.code in (ErrorCode.OTHER, ErrorCode.BAD_REQUEST, ErrorCode.UNSUPPORTED_NETWORK):
                raise NwcError(ErrorCode.PAYMENT_FAILED, exc.message) from None
            raise
    raise NwcError(
        ErrorCode.UNSUPPORTED_PAYMENT_INSTRUCTION,
        f"this wallet's backend ({ctx.wallet.kind}) cannot pay BOLT12 offers; pay a bolt11 "
        "invoice or a lightning address instead",
    )


def _agreed(in_uri: int | None, in_params: int | None) -> int | None:
    if in_uri is not None and in_params is not None and in_uri != in_params:
        raise bip321.bad(
            f"params.amount {in_params} msat conflicts with the URI's amount {in_uri} msat"
        )
    return in_params if in_params is not None else in_uri


def _check_bolt11(ctx: MethodContext, invoice: str, amount: int | None) -> int | None:
    """Amount and network of a bolt11 given to pay; the amount to pass when it has none."""
    from signer_core.protocol.bolt11 import InvalidInvoice, decode

    try:
        decoded = decode(invoice)
    except InvalidInvoice as exc:
        raise bip321.bad(f"invalid bolt11 invoice: {exc}") from None
    network = payment_network(ctx.wallet)
    if network is not None and decoded.network != network:
        raise NwcError(
            ErrorCode.UNSUPPORTED_NETWORK,
            f"the invoice is for {decoded.network}, this wallet pays on {network}",
        )
    if decoded.amount_msat is None:
        if amount is None:
            raise bip321.bad("the invoice has no amount: pass params.amount in msat")
        return amount
    if amount is not None and amount != decoded.amount_msat:
        raise bip321.bad(
            f"amount {amount} msat conflicts with the invoice's {decoded.amount_msat} msat"
        )
    return None


def options_for(ctx: MethodContext) -> lnurl.LnurlOptions:
    """The LNURL client's options: the wallet's own transport (Pyodide's fetch there) and
    the deployment's loopback switch (tests only)."""
    allow = wallet_config(ctx.wallet).get(lnurl.CONFIG_ALLOW_LOOPBACK_HTTP) is True
    return lnurl.LnurlOptions(transport=http_transport(ctx.wallet), allow_loopback_http=allow)


def _from_lnurl(
    ctx: MethodContext, found: bip321.PaymentInstructions, amount: int | None, note: str | None
) -> str:
    """The bolt11 an LNURL-pay server makes for this amount, checked (lnurl.py)."""
    options = options_for(ctx)
    if found.lnurl is not None:
        url = found.lnurl
    else:
        assert found.lightning_address is not None
        url = lnurl.address_url(found.lightning_address, options)
    pay_request = lnurl.fetch_pay_request(url, options)
    if amount is None:
        if pay_request.min_msat != pay_request.max_msat:
            raise NwcError(  # the server's answer: stored, like every LNURL refusal
                ErrorCode.PAYMENT_FAILED,
                f"{pay_request.host} accepts {pay_request.min_msat} to "
                f"{pay_request.max_msat} msat: pass params.amount in msat; nothing was paid",
            )
        amount = pay_request.min_msat
    invoice = lnurl.request_invoice(pay_request, amount, options, note)
    _check_bolt11(ctx, invoice, None)
    return invoice
