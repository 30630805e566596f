"""``SparkWallet``: the ``Wallet`` protocol (signer_core.wallets.base) on breez-sdk-spark.

State in ``data`` (JSON, sealed with the rest of the wallet):

- ``network`` (regtest | mainnet), ``identity_pubkey``, ``spark_address``,
  ``lightning_address`` (or None): derived once, offline, so get_info needs no SDK build
- ``storage``: the SDK's storage folder (see ``storage.py``)
- ``invoices``: bolt11s we issued and not yet seen paid (payment hash -> record), so
  lookup_invoice can answer "pending"/"expired" and sync knows when to look again
- ``seen_receives`` / ``receive_cursor`` / ``last_sync``: which incoming payments were
  already notified, so each ``payment_received`` goes out once
- ``holds``: NWC-03 hold invoices (``holds.py``); ``webhook``: the registered Breez
  webhook (``hook.py``)

On a runtime without the SDK (Pyodide), get_info still answers from ``data``; every other
method answers ``SparkUnavailable`` (INTERNAL, naming the runtime); no sync is attempted
and a claimed payment stays claimed ("pending"): its outcome is unknown here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import (
    LIGHTNING_METHODS,
    PAYMENT_NOTIFICATIONS,
    PaymentOutcome,
    PreparedPayment,
    SyncResult,
    Transaction,
    TxType,
    WalletEnv,
)
from signer_core.wallets.extensions import HOLD_INVOICE_ACCEPTED, Notification
from signer_core.wallets.spark import errors, holds, incoming, mapping, payments
from signer_core.wallets.spark.session import (
    ConnectFn,
    SparkSession,
    SparkUnavailable,
    sdk_importable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ALIAS = "nwc-signer (spark)"
NETWORKS = ("regtest", "mainnet")


class SparkWallet:
    kind: ClassVar[str] = "spark"
    # NWC-321 pay/receive go through the same prepare/claim/send as pay_invoice (bolt11 and
    # LNURL; BOLT12 offers: the SDK cannot send to one). cancel_hold_invoice is not served:
    # the SDK cannot fail a held HTLC back (holds.py)
    methods: ClassVar[frozenset[str]] = LIGHTNING_METHODS | {
        "pay",
        "receive",
        "make_hold_invoice",
        "settle_hold_invoice",
        "sign_message",
    }
    notifications: ClassVar[frozenset[str]] = PAYMENT_NOTIFICATIONS | {HOLD_INVOICE_ACCEPTED}

    def __init__(
        self, data: dict[str, Any], env: WalletEnv, *, connect: ConnectFn | None = None
    ) -> None:
        if not env.mnemonic:
            raise NwcError(ErrorCode.INTERNAL, "the Spark backend needs the wallet's mnemonic")
        self.data = data
        self.env = env
        self.session = SparkSession(data, env, connect)
        self.prepared: dict[str, Any] = {}  # idempotency key -> SDK prepare response
        self.notes: list[Notification] = []  # found by sync besides receipts (holds.py)

    @staticmethod
    def create_data(
        network: str,
        *,
        mnemonic: str,
        config: dict[str, Any] | None = None,
        connect: ConnectFn | None = None,
        now: int = 0,
    ) -> dict[str, Any]:
        """A fresh state for ``wallet create``: builds the SDK offline once to derive the
        identity key and Spark address and to save its initial storage."""
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}")
        data: dict[str, Any] = {
            "network": network,
            "identity_pubkey": "",
            "spark_address": "",
            "lightning_address": None,
            "storage": None,
            "invoices": {},
            "seen_receives": [],
            "receive_cursor": now,
            "last_sync": 0,
        }
        env = WalletEnv(seed=b"", now=now, mnemonic=mnemonic, config=dict(config or {}))
        wallet = SparkWallet(data, env, connect=connect)
        try:
            wallet.identity()
        finally:
            wallet.close()
        return data

    def call(self, what: str, op: Callable[[Any], Awaitable[T]], timeout: float | None = None) -> T:
        """One SDK operation; any failure becomes the NIP-47 error for ``what``."""
        try:
            return self.session.run(what, op, timeout=timeout)
        except Exception as exc:
            error = errors.to_nwc(exc, what)
            log.info("spark: %s failed: %s (%s)", what, error.code.value, errors.kind(exc))
            raise error from None

    def close(self) -> None:
        self.session.close()

    # --- info and balance ---------------------------------------------------------------

    def identity(self) -> tuple[str, str]:
        """(identity pubkey, Spark address): offline, cached in ``data``."""
        if not (self.data.get("identity_pubkey") and self.data.get("spark_address")):
            b = self.session.sdk

            async def op(client: Any) -> tuple[Any, Any]:
                info = await client.get_info(b.GetInfoRequest(ensure_synced=None))
                method = b.ReceivePaymentMethod.SPARK_ADDRESS()
                address = await client.receive_payment(
                    b.ReceivePaymentRequest(payment_method=method)
                )
                return info, address

            info, address = self.call("derive the Spark identity", op)
            self.data["identity_pubkey"] = str(info.identity_pubkey)
            self.data["spark_address"] = str(address.payment_request)
        return str(self.data["identity_pubkey"]), str(self.data["spark_address"])

    def get_info(self) -> dict[str, Any]:
        pubkey, address = self.identity()
        out: dict[str, Any] = {
            "alias": ALIAS,
            "network": self.data.get("network", "regtest"),
            "spark_address": address,
            "spark_identity_pubkey": pubkey,
        }
        if self.data.get("lightning_address"):
            out["lud16"] = self.data["lightning_address"]
        return out

    def get_balance_msat(self) -> int:
        b = self.session.sdk

        async def op(client: Any) -> Any:
            return await client.get_info(b.GetInfoRequest(ensure_synced=None))

        return int(self.call("read the balance", op).balance_sats) * 1000

    def register_lightning_address(self, username: str, description: str | None = None) -> str:
        """Register ``username@<lnurl domain>`` with Breez's LNURL server (network)."""
        b = self.session.sdk

        async def op(client: Any) -> Any:
            request = b.RegisterLightningAddressRequest(username=username, description=description)
            return await client.register_lightning_address(request)

        info = self.call("register the lightning address", op)
        self.data["lightning_address"] = str(info.lightning_address)
        return str(info.lightning_address)

    # --- outgoing -----------------------------------------------------------------------

    def prepare_payment(
        self, *, invoice: str, amount_msat: int | None, request_id: str
    ) -> PreparedPayment:
        return payments.prepare(self, invoice, amount_msat, request_id)

    def send_payment(self, prepared: PreparedPayment) -> PaymentOutcome:
        try:
            return payments.send(self, prepared)
        except SparkUnavailable as exc:  # an earlier try may have sent it: keep the claim
            return PaymentOutcome("pending", message=exc.message)

    def reconcile_payment(self, prepared: PreparedPayment) -> PaymentOutcome | None:
        try:
            return payments.reconcile(self, prepared)
        except SparkUnavailable as exc:  # unknown here, never "failed" nor "never sent"
            return PaymentOutcome("pending", message=exc.message)

    def cancel_payment(self, prepared: PreparedPayment) -> None:
        self.prepared.pop(prepared.reference, None)  # the SDK reserves nothing before send

    # --- lookups ------------------------------------------------------------------------

    def _payments(self, **filters: Any) -> list[Any]:
        b = self.session.sdk

        async def op(client: Any) -> Any:
            return await client.list_payments(b.ListPaymentsRequest(**filters))

        return list(self.call("list payments", op).payments)

    def lookup_invoice(self, *, payment_hash: str) -> Transaction | None:
        wanted = payment_hash.lower()
        hold = self.data.get("holds", {}).get(wanted)
        if hold is not None:
            return holds.hold_tx(hold)
        for payment in self._payments(limit=LOOKUP_LIMIT, sort_ascending=False):
            if mapping.payment_hash(payment).lower() == wanted:
                return mapping.to_transaction(payment)
        record = self.data.get("invoices", {}).get(wanted)
        return incoming.invoice_tx(record, self.env.now) if record else None

    def list_transactions(
        self,
        *,
        from_time: int | None,
        until: int | None,
        limit: int,
        offset: int,
        unpaid: bool,
        tx_type: TxType | None,
    ) -> list[Transaction]:
        offset, limit = max(offset, 0), max(limit, 0)
        b = self.session.sdk
        filters: dict[str, Any] = {"limit": offset + limit, "offset": 0, "sort_ascending": False}
        if from_time is not None:
            filters["from_timestamp"] = from_time
        if until is not None:
            filters["to_timestamp"] = until + 1  # the SDK's bound is exclusive, NIP-47's not
        if tx_type is not None:
            sdk_type = b.PaymentType.SEND if tx_type == "outgoing" else b.PaymentType.RECEIVE
            filters["type_filter"] = [sdk_type]
        txs = [mapping.to_transaction(p) for p in self._payments(**filters)]
        if unpaid and tx_type != "outgoing":
            for record in self.data.get("invoices", {}).values():
                created = int(record["created_at"])
                if (from_time is None or created >= from_time) and (
                    until is None or created <= until
                ):
                    txs.append(incoming.invoice_tx(record, self.env.now))
        txs.sort(key=lambda t: t.created_at, reverse=True)
        return txs[offset : offset + limit]

    # --- incoming -----------------------------------------------------------------------

    def make_invoice(
        self,
        *,
        amount_msat: int,
        description: str | None,
        description_hash: str | None,
        expiry: int | None,
        metadata: dict[str, Any] | None,
    ) -> Transaction:
        return incoming.make_invoice(self, amount_msat, description, description_hash, expiry)

    # --- extensions (signer_core.wallets.extensions) -------------------------------------

    def make_hold_invoice(
        self,
        *,
        amount_msat: int,
        payment_hash: str,
        description: str | None,
        description_hash: str | None,
        expiry: int | None,
        min_cltv_expiry_delta: int | None,
    ) -> Transaction:
        """HODL bolt11 for the client's hash. ``min_cltv_expiry_delta`` is the service
        provider's to choose; the time it leaves is ``settle_deadline_at`` once accepted."""
        return holds.make(self, amount_msat, payment_hash, description, description_hash, expiry)

    def settle_hold_invoice(self, *, preimage: str) -> Transaction | None:
        tx, payment_id = holds.settle(self, preimage)
        if payment_id is None or not incoming.mark_seen(self, payment_id):
            return None  # settled and reported before
        return tx

    def cancel_hold_invoice(self, *, payment_hash: str) -> None:
        raise NwcError(ErrorCode.NOT_IMPLEMENTED, holds.CANCEL_REASON)

    def sign_message(self, message: str) -> str:
        """ECDSA by the wallet's Spark identity key over SHA-256(message), compact hex
        (verify against ``spark_identity_pubkey`` of get_info)."""
        b = self.session.sdk

        async def op(client: Any) -> Any:
            return await client.sign_message(b.SignMessageRequest(message=message, compact=True))

        return str(self.call("sign the message", op).signature)

    def take_notifications(self) -> list[Notification]:
        found, self.notes = self.notes, []
        return found

    def needs_sync(self) -> bool:
        # without the SDK no sync can succeed: no attempt, and no wake-ups asked for one
        return incoming.needs_sync(self) and sdk_importable()

    def sync(self) -> SyncResult:
        try:
            return incoming.sync(self)
        except SparkUnavailable:  # found but failed to load: leave the state as it was
            return SyncResult()


LOOKUP_LIMIT = 500
