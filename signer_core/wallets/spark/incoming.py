"""Incoming payments: bolt11 via receive_payment, and the sync that turns receipts into
``payment_received`` notifications exactly once.

Spark's service provider holds an incoming Lightning payment while the wallet sleeps;
``sync_wallet`` claims it. So a wallet with unpaid invoices of its own asks to be woken
(``wake_at``) until they are paid or expire, and any wallet syncs at least every
``spark_sync_interval_s`` (default one hour) to catch payments to its Spark or lightning
address. User-facing reads never sync on their own: server-mode reads use local storage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import SyncResult, Transaction
from signer_core.wallets.spark import errors, holds, hook, mapping

if TYPE_CHECKING:
    from signer_core.wallets.spark.wallet import SparkWallet

log = logging.getLogger(__name__)

SEEN_CAP = 500  # receipts remembered for de-duplication (the cursor covers older ones)
INVOICE_CAP = 200
CURSOR_SLACK_S = 600  # re-read this far behind the cursor: SDK timestamps are not ordered
DEFAULT_SYNC_INTERVAL_S = 3600
FAST_POLL_S, SLOW_POLL_S, FAST_WINDOW_S = 30, 300, 600
# identity pubkey -> when this process last failed to sync that wallet. Kept in memory (a
# warm instance), not in the state: while the operators are unreachable, requests answer
# from the stored state at once instead of each waiting out the SDK's connect and sync time
# limits (5-10 s) again; the wake-up the failure asked for tries again.
FAILED_SYNC_AT: dict[str, int] = {}


def make_invoice(
    wallet: SparkWallet,
    amount_msat: int,
    description: str | None,
    description_hash: str | None,
    expiry: int | None,
) -> Transaction:
    from signer_core.protocol.bolt11 import decode

    if description_hash:
        raise NwcError(
            ErrorCode.NOT_IMPLEMENTED, "Spark bolt11 invoices carry a description, not a hash"
        )
    if amount_msat <= 0 or amount_msat % 1000:
        raise NwcError(ErrorCode.OTHER, "Spark invoices need a positive whole-sat amount (msat)")
    b = wallet.session.sdk
    method = b.ReceivePaymentMethod.BOLT11_INVOICE(
        description or "", amount_msat // 1000, expiry, None, None
    )

    async def op(client: Any) -> Any:
        return await client.receive_payment(b.ReceivePaymentRequest(payment_method=method))

    bolt11 = str(wallet.call("create the invoice", op).payment_request)
    decoded = decode(bolt11)
    record = {
        "invoice": bolt11,
        "payment_hash": decoded.payment_hash,
        "amount": amount_msat,
        "description": description,
        "created_at": wallet.env.now,
        "expires_at": decoded.expires_at,
    }
    invoices = wallet.data.setdefault("invoices", {})
    invoices[decoded.payment_hash] = record
    _prune_invoices(invoices, wallet.env.now)
    return invoice_tx(record, wallet.env.now)


def invoice_tx(record: dict[str, Any], now: int) -> Transaction:
    """An invoice we issued and have not seen paid: pending, or expired past its time."""
    expires_at = int(record["expires_at"])
    return Transaction(
        type="incoming",
        state="expired" if now >= expires_at else "pending",
        invoice=record["invoice"],
        payment_hash=record["payment_hash"],
        amount=int(record["amount"]),
        created_at=int(record["created_at"]),
        description=record.get("description"),
        expires_at=expires_at,
    )


def _prune_invoices(invoices: dict[str, Any], now: int) -> None:
    """Forget invoices a day past expiry, and the oldest beyond the cap."""
    for key in [k for k, r in invoices.items() if now - int(r["expires_at"]) > 86400]:
        del invoices[key]
    for key in sorted(invoices, key=lambda k: int(invoices[k]["created_at"]))[:-INVOICE_CAP]:
        del invoices[key]


def _open_invoices(wallet: SparkWallet) -> list[dict[str, Any]]:
    now = wallet.env.now
    return [r for r in wallet.data.get("invoices", {}).values() if int(r["expires_at"]) > now]


def needs_sync(wallet: SparkWallet) -> bool:
    interval = int(wallet.env.config.get("spark_sync_interval_s", DEFAULT_SYNC_INTERVAL_S))
    stale = wallet.env.now - int(wallet.data.get("last_sync", 0)) >= interval
    failed_at = FAILED_SYNC_AT.get(str(wallet.data.get("identity_pubkey") or ""))
    if failed_at is not None and wallet.env.now - failed_at < FAST_POLL_S:
        return False  # backing off after a failed sync (see FAILED_SYNC_AT)
    return stale or bool(_open_invoices(wallet)) or holds.watching(wallet) or hook.due(wallet)


def sync(wallet: SparkWallet) -> SyncResult:
    """Claim what the service provider holds, then report receipts not notified before.

    Best effort: an unreachable network leaves the state as it was and asks for a retry.
    """
    b = wallet.session.sdk
    cursor = int(wallet.data.get("receive_cursor", 0))
    request = b.ListPaymentsRequest(
        type_filter=[b.PaymentType.RECEIVE],
        status_filter=[b.PaymentStatus.COMPLETED],
        from_timestamp=max(cursor - CURSOR_SLACK_S, 0),
        sort_ascending=True,
    )

    watch_holds = bool(wallet.data.get("holds"))
    pending_request = b.ListPaymentsRequest(
        type_filter=[b.PaymentType.RECEIVE], status_filter=[b.PaymentStatus.PENDING]
    )

    async def op(client: Any) -> tuple[Any, list[Any]]:
        await hook.ensure(wallet, client)  # never raises: a sync must not fail on it
        await client.sync_wallet(b.SyncWalletRequest())
        completed = await client.list_payments(request)
        pending = (await client.list_payments(pending_request)).payments if watch_holds else []
        return completed, list(pending)

    now = wallet.env.now
    try:
        listed, pending = wallet.session.run("sync the wallet", op)
        found = listed.payments
    except Exception as exc:
        log.info("spark: sync failed: %s", errors.to_nwc(exc, "sync").message)
        if wallet.data.get("identity_pubkey"):
            FAILED_SYNC_AT[str(wallet.data["identity_pubkey"])] = now
        return SyncResult(wake_at=now + FAST_POLL_S)
    FAILED_SYNC_AT.pop(str(wallet.data.get("identity_pubkey") or ""), None)
    seen: list[str] = list(wallet.data.get("seen_receives", []))
    known = set(seen)
    invoices = wallet.data.setdefault("invoices", {})
    received = []
    for payment in found:
        if str(payment.id) in known:
            continue
        tx = mapping.to_transaction(payment)
        received.append(tx)
        seen.append(str(payment.id))
        known.add(str(payment.id))
        invoices.pop(tx.payment_hash, None)
        cursor = max(cursor, int(payment.timestamp))
    wallet.data["seen_receives"] = seen[-SEEN_CAP:]
    wallet.data["receive_cursor"] = cursor
    wallet.data["last_sync"] = now
    _prune_invoices(invoices, now)
    wallet.notes.extend(holds.apply_sync(wallet, pending, list(found)))
    return SyncResult(received=received, wake_at=_wake_at(wallet))


def mark_seen(wallet: SparkWallet, payment_id: str) -> bool:
    """Remember a receipt as notified; False if it was already (nothing new to report)."""
    seen: list[str] = list(wallet.data.get("seen_receives", []))
    if payment_id in seen:
        return False
    seen.append(payment_id)
    wallet.data["seen_receives"] = seen[-SEEN_CAP:]
    return True


def _wake_at(wallet: SparkWallet) -> int | None:
    """Poll fast while a fresh invoice may be paid, slower later, stop at expiry."""
    now = wallet.env.now
    open_ = _open_invoices(wallet)
    open_holds = [r for r in wallet.data.get("holds", {}).values() if r["state"] == "open"]
    created = [int(r["created_at"]) for r in [*open_, *open_holds]]
    step = FAST_POLL_S if created and now - max(created) < FAST_WINDOW_S else SLOW_POLL_S
    held = holds.wake_at(wallet, step)
    if not open_:
        return held
    return min(now + step, max(int(r["expires_at"]) for r in open_), held or 2**62)
