"""NWC-03 hold invoices on Spark: HODL bolt11s, held HTLCs noticed by sync, claim by preimage.

What the SDK (breez-sdk-spark 0.27.2) offers, and so what this serves:

- make: ``receive_payment`` with ``ReceivePaymentMethod.BOLT11_INVOICE(payment_hash=...)``
  creates a HODL invoice for a hash the caller chose; the service provider holds the
  payer's HTLC "until the preimage is provided via claim_htlc_payment or the HTLC expires".
- accepted: after ``sync_wallet`` the held payment is listed as a PENDING receive whose
  ``htlc_details.status`` is WAITING_FOR_PREIMAGE and whose ``expiry_time`` (unix seconds)
  is the deadline. A sync that sees it first marks the hold accepted and queues one
  ``hold_invoice_accepted`` notification.
- settle: ``claim_htlc_payment(preimage)``; the SDK refuses a hash with nothing claimable
  (InvalidInput), so a second claim cannot take the money twice.
- cancel: no SDK call fails a held HTLC back early; it returns to the payer at its expiry.
  So cancel_hold_invoice is not served (docs/spark-extensions.md).

State: ``data["holds"]`` payment hash -> record (invoice, amount msat, description,
created_at, expires_at, state open|accepted|settled|expired, deadline, payment_id,
preimage, settled_at).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import Transaction
from signer_core.wallets.extensions import HOLD_INVOICE_ACCEPTED
from signer_core.wallets.spark import errors, mapping

if TYPE_CHECKING:
    from signer_core.wallets.spark.wallet import SparkWallet

log = logging.getLogger(__name__)

HOLD_CAP = 200
FORGET_AFTER_S = 86400  # finished holds are kept this long for lookups
CANCEL_REASON = (
    "Spark cannot cancel a hold invoice: the Breez SDK has no call that fails a held HTLC "
    "back early. An unsettled payment returns to the payer when its HTLC expires "
    "(settle_deadline_at in hold_invoice_accepted)"
)
TX_STATES = {"open": "pending", "accepted": "accepted", "settled": "settled", "expired": "expired"}


def _hex32(value: object, name: str) -> str:
    text = value if isinstance(value, str) else ""
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise NwcError(ErrorCode.OTHER, f"{name} must be 32 bytes of hex (64 characters)")
    return text.lower()


def holds(wallet: SparkWallet) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = wallet.data.setdefault("holds", {})
    return found


def hold_tx(record: dict[str, Any]) -> Transaction:
    """The NIP-47 transaction of a hold invoice in its current state."""
    state = TX_STATES.get(str(record["state"]), "pending")
    tx = Transaction(
        type="incoming",
        state=state,  # type: ignore[arg-type]  # one of TxState by TX_STATES
        invoice=record["invoice"],
        payment_hash=record["payment_hash"],
        amount=int(record["amount"]),
        created_at=int(record["created_at"]),
        description=record.get("description"),
        expires_at=int(record["expires_at"]),
        preimage=record.get("preimage"),
        settled_at=record.get("settled_at"),
    )
    if record.get("deadline"):
        tx.metadata = {"settle_deadline_at": int(record["deadline"])}
    return tx


def accepted_notification(record: dict[str, Any]) -> dict[str, Any]:
    """NWC-03's notification body. Its ``settle_deadline`` is a block height, which Spark
    does not give: the deadline it has is a time, sent as ``settle_deadline_at``."""
    body = hold_tx(record).to_nip47()
    body["settle_deadline_at"] = int(record["deadline"])
    return body


def make(
    wallet: SparkWallet,
    amount_msat: int,
    payment_hash: str,
    description: str | None,
    description_hash: str | None,
    expiry: int | None,
) -> Transaction:
    from signer_core.protocol.bolt11 import decode

    wanted = _hex32(payment_hash, "payment_hash")
    if description_hash:
        raise NwcError(
            ErrorCode.NOT_IMPLEMENTED, "Spark bolt11 invoices carry a description, not a hash"
        )
    if amount_msat <= 0 or amount_msat % 1000:
        raise NwcError(ErrorCode.OTHER, "Spark invoices need a positive whole-sat amount (msat)")
    if expiry is not None and not 0 < expiry <= 0xFFFFFFFF:
        raise NwcError(ErrorCode.OTHER, "expiry must be a positive number of seconds")
    table = holds(wallet)
    if wanted in table:
        raise NwcError(ErrorCode.OTHER, "a hold invoice with this payment_hash exists already")
    b = wallet.session.sdk
    method = b.ReceivePaymentMethod.BOLT11_INVOICE(
        description or "", amount_msat // 1000, expiry, wanted, None
    )

    async def op(client: Any) -> Any:
        return await client.receive_payment(b.ReceivePaymentRequest(payment_method=method))

    bolt11 = str(wallet.call("create the hold invoice", op).payment_request)
    decoded = decode(bolt11)
    if decoded.payment_hash != wanted:  # never hand out an invoice for another hash
        raise NwcError(ErrorCode.INTERNAL, "Spark returned an invoice for another payment hash")
    now = wallet.env.now
    record: dict[str, Any] = {
        "invoice": bolt11,
        "payment_hash": wanted,
        "amount": amount_msat,
        "description": description,
        "created_at": now,
        "expires_at": decoded.expires_at,
        "state": "open",
        "deadline": None,
        "payment_id": None,
        "preimage": None,
        "settled_at": None,
    }
    table[wanted] = record
    _prune(table, now)
    return hold_tx(record)


def _prune(table: dict[str, dict[str, Any]], now: int) -> None:
    done = ("settled", "expired")
    for key in [
        k
        for k, r in table.items()
        if r["state"] in done and now - int(r.get("settled_at") or r["expires_at"]) > FORGET_AFTER_S
    ]:
        del table[key]
    finished = sorted((k for k in table if table[k]["state"] in done),
                      key=lambda k: int(table[k]["created_at"]))  # fmt: skip
    for key in finished[: max(len(table) - HOLD_CAP, 0)]:
        del table[key]


def watching(wallet: SparkWallet) -> bool:
    """Is there a hold whose state only a sync can move (paid, or its HTLC returned)?"""
    now = wallet.env.now
    for r in holds(wallet).values():
        if r["state"] == "open" and int(r["expires_at"]) > now:
            return True
        if r["state"] == "accepted" and now >= int(r["deadline"] or 0):
            return True
    return False


def wake_at(wallet: SparkWallet, step: int) -> int | None:
    """When to look again: every ``step`` while an invoice can still be paid, and just past
    the deadline of an accepted one (to see its HTLC returned if nobody settled it)."""
    now = wallet.env.now
    times: list[int] = []
    for r in holds(wallet).values():
        if r["state"] == "open" and int(r["expires_at"]) > now:
            times.append(min(now + step, int(r["expires_at"])))
        elif r["state"] == "accepted":
            times.append(max(int(r["deadline"] or now) + 60, now + step))
    return min(times) if times else None


def apply_sync(
    wallet: SparkWallet, pending: list[Any], completed: list[Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Move holds by what a sync found; the ``hold_invoice_accepted`` notifications, once."""
    table = holds(wallet)
    if not table:
        return []
    now = wallet.env.now
    notes: list[tuple[str, dict[str, Any]]] = []
    held = {mapping.payment_hash(p).lower(): p for p in pending}
    done = {mapping.payment_hash(p).lower(): p for p in completed}
    for key, record in table.items():
        if record["state"] in ("settled", "expired"):
            continue
        if key in done:  # claimed (perhaps by a settle whose state write was lost)
            _settled(record, done[key], now)
            continue
        payment = held.get(key)
        found = mapping.htlc(payment) if payment is not None else None
        if record["state"] == "open" and payment is not None and found and _waiting(found):
            record["state"] = "accepted"
            record["deadline"] = int(found.expiry_time)
            record["payment_id"] = str(payment.id)
            notes.append((HOLD_INVOICE_ACCEPTED, accepted_notification(record)))
        elif record["state"] == "accepted" and payment is None and now >= int(record["deadline"]):
            record["state"] = "expired"  # the HTLC went back to the payer
        elif record["state"] == "open" and now >= int(record["expires_at"]) and payment is None:
            record["state"] = "expired"
    _prune(table, now)
    return notes


def _waiting(htlc: Any) -> bool:
    return str(getattr(htlc.status, "name", htlc.status)) == "WAITING_FOR_PREIMAGE"


def _settled(record: dict[str, Any], payment: Any, now: int) -> None:
    record["state"] = "settled"
    record["payment_id"] = str(payment.id)
    record["preimage"] = mapping.preimage(payment) or record.get("preimage")
    record["settled_at"] = record.get("settled_at") or now


def settle(wallet: SparkWallet, preimage: str) -> tuple[Transaction, str | None]:
    """Claim the held payment; (settled transaction, the SDK payment id claimed now or None
    when it was claimed before). Never claims twice: a settled hold answers from the state,
    and the SDK itself refuses a hash with nothing claimable."""
    secret = _hex32(preimage, "preimage")
    key = hashlib.sha256(bytes.fromhex(secret)).hexdigest()
    record = holds(wallet).get(key)
    if record is None:
        raise NwcError(ErrorCode.NOT_FOUND, "no hold invoice of this wallet has that preimage")
    if record["state"] == "settled":
        return hold_tx(record), None
    if record["state"] == "expired":
        raise NwcError(
            ErrorCode.OTHER, "this hold invoice expired unsettled: nothing is held to claim"
        )
    b = wallet.session.sdk

    async def op(client: Any) -> Any:
        try:
            request = b.ClaimHtlcPaymentRequest(preimage=secret)
            return (await client.claim_htlc_payment(request)).payment
        except Exception as exc:
            if errors.kind(exc) != "InvalidInput":
                raise
        # nothing claimable under this hash: claimed already (a lost state write, so the
        # local storage may not know it either: sync first), or not paid yet
        await client.sync_wallet(b.SyncWalletRequest())
        listed = await client.list_payments(
            b.ListPaymentsRequest(
                type_filter=[b.PaymentType.RECEIVE], status_filter=[b.PaymentStatus.COMPLETED]
            )
        )
        for payment in listed.payments:
            if mapping.payment_hash(payment).lower() == key:
                return payment
        return None

    payment = wallet.call("settle the hold invoice", op)
    if payment is None:
        raise NwcError(
            ErrorCode.OTHER, "no payment is held for this hold invoice yet (not accepted)"
        )
    _settled(record, payment, wallet.env.now)
    record["preimage"] = secret
    return hold_tx(record), str(payment.id)
