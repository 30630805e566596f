"""Outgoing payments: prepare, send with the NWC request's idempotency key, reconcile.

Exactly-once rests on two keys that name the same payment:

- the pipeline's ledger claim (request id -> PreparedPayment) is stored before any send;
- the SDK's ``idempotency_key`` is a UUID derived from that request id. The SDK uses it as
  the Spark transfer id (``Payment.id``): a second send with the same key returns the
  stored payment, and the operators refuse a second transfer with the same id.

So a re-delivered or crashed request reconciles by ``get_payment(key)`` (after a sync when
the local storage does not know it) and, only if the SDK never saw it, sends again under
the same key. Any failure whose outcome is unknown (timeout, unreachable operators) is
``pending``, never ``failed``: the ledger keeps the claim and a wake-up finishes it.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import PaymentOutcome, PreparedPayment
from signer_core.wallets.spark import errors, mapping

if TYPE_CHECKING:
    from signer_core.wallets.spark.wallet import SparkWallet

log = logging.getLogger(__name__)

DEFINITE_FAILURES = ("InsufficientFunds", "InvalidInput", "InvalidUuid")
DEFAULT_COMPLETION_S = 20


def idempotency_key(request_id: str) -> str:
    """A UUID (the SDK requires one) derived from the 32-byte NWC request id."""
    digest = hashlib.sha256(b"nwc-signer/spark/idempotency\x00" + request_id.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _completion_s(wallet: SparkWallet) -> int:
    return int(wallet.env.config.get("spark_payment_timeout_s", DEFAULT_COMPLETION_S))


async def _prepare(wallet: SparkWallet, client: Any, invoice: str, amount_sats: int | None) -> Any:
    b = wallet.session.sdk
    request = b.PrepareSendPaymentRequest(
        payment_request=b.PaymentRequest.INPUT(invoice), amount=amount_sats
    )
    return await client.prepare_send_payment(request)


def _quote(prep: Any) -> tuple[int, int]:
    """(amount, Lightning fee) in sats of a prepare response; refuses non-bolt11 methods."""
    method = prep.payment_method
    if not method.is_bolt11_invoice():
        raise NwcError(ErrorCode.OTHER, "only bolt11 Lightning invoices can be paid")
    return int(prep.amount), int(method.lightning_fee_sats)


def prepare(
    wallet: SparkWallet, invoice: str, amount_msat: int | None, request_id: str
) -> PreparedPayment:
    from signer_core.protocol.bolt11 import decode

    if amount_msat is not None and amount_msat % 1000:
        raise NwcError(ErrorCode.OTHER, "Spark pays whole sats: amount must be a multiple of 1000")
    amount_sats = amount_msat // 1000 if amount_msat is not None else None
    b = wallet.session.sdk

    async def op(client: Any) -> tuple[Any, Any]:
        info = await client.get_info(b.GetInfoRequest(ensure_synced=None))
        return info, await _prepare(wallet, client, invoice, amount_sats)

    info, prep = wallet.call("prepare the payment", op)
    amount, fee = _quote(prep)
    if int(info.balance_sats) < amount + fee:
        raise NwcError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"balance {int(info.balance_sats)} sat is less than {amount} sat + {fee} sat fee",
        )
    key = idempotency_key(request_id)
    wallet.prepared[key] = prep
    return PreparedPayment(
        reference=key,
        invoice=invoice,
        payment_hash=decode(invoice).payment_hash,
        amount_msat=amount * 1000,
        fee_reserve_msat=fee * 1000,
        data={"idempotency_key": key, "amount_sats": amount, "fee_sats": fee},
    )


def send(wallet: SparkWallet, prepared: PreparedPayment) -> PaymentOutcome:
    key = prepared.reference
    prep = wallet.prepared.pop(key, None)
    b = wallet.session.sdk
    completion = _completion_s(wallet)
    amountless = prepared.data.get("amount_sats") if _amountless(prepared) else None

    async def op(client: Any) -> Any:
        quote = prep
        if quote is None:  # a later request resumes the claim: quote again, same key
            quote = await _prepare(wallet, client, prepared.invoice, amountless)
            if _quote(quote)[1] * 1000 > prepared.fee_reserve_msat:
                return None
        request = b.SendPaymentRequest(
            prepare_response=quote,
            options=b.SendPaymentOptions.BOLT11_INVOICE(
                prefer_spark=False, completion_timeout_secs=completion
            ),
            idempotency_key=key,
        )
        return (await client.send_payment(request)).payment

    try:
        limit = completion + wallet.env.http_timeout
        payment = wallet.session.run("send the payment", op, timeout=limit)
    except Exception as exc:
        if errors.kind(exc) in DEFINITE_FAILURES:  # refused before any transfer was made
            return PaymentOutcome("failed", message=errors.to_nwc(exc, "send the payment").message)
        log.warning("Spark send outcome unknown: %s", errors.kind(exc))
        return PaymentOutcome("pending", message=errors.to_nwc(exc, "send the payment").message)
    if payment is None:
        return PaymentOutcome("failed", message="the Lightning fee rose above the reserved fee")
    return mapping.to_outcome(payment)


def _amountless(prepared: PreparedPayment) -> bool:
    from signer_core.protocol.bolt11 import InvalidInvoice, decode

    try:
        return decode(prepared.invoice).amount_msat is None
    except InvalidInvoice:
        return False


def reconcile(wallet: SparkWallet, prepared: PreparedPayment) -> PaymentOutcome | None:
    """What became of a claimed send; None only when the SDK has no payment under its key
    (re-sending under the same key cannot pay twice)."""
    key = prepared.reference
    b = wallet.session.sdk

    async def get(client: Any) -> Any:
        try:
            return (await client.get_payment(b.GetPaymentRequest(payment_id=key))).payment
        except Exception as exc:
            if errors.is_not_found(exc):
                return None
            raise

    async def op(client: Any) -> Any:
        payment = await get(client)
        if payment is None or mapping.STATES.get(payment.status.name) == "pending":
            await client.sync_wallet(b.SyncWalletRequest())
            payment = await get(client)
        return payment

    try:
        payment = wallet.session.run("look up the payment", op)
    except Exception as exc:
        return PaymentOutcome("pending", message=errors.to_nwc(exc, "look up the payment").message)
    return None if payment is None else mapping.to_outcome(payment)
