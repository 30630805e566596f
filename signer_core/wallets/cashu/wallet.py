"""``CashuWallet``: the ``Wallet`` protocol (signer_core.wallets.base) over one Cashu mint.

All state lives in the ``data`` dict handed in (see ``state.py`` for its layout); a new
instance is built per request from the unsealed state, exactly as the cold-start pipeline
does. Importing this module does not import httpx (the client imports it on first use).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

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
from signer_core.wallets.cashu import incoming, payments, prepare
from signer_core.wallets.cashu.client import CashuError
from signer_core.wallets.cashu.core import CashuCore
from signer_core.wallets.cashu.state import create_data

if TYPE_CHECKING:  # pragma: no cover
    import httpx

log = logging.getLogger(__name__)

ALIAS = "nwc-signer (cashu)"
RESTORE_BATCH = 100
RESTORE_EMPTY_BATCHES = 3


class CashuWallet(CashuCore):
    kind: ClassVar[str] = "cashu"
    # NWC-321 pay/receive: bolt11, lightning addresses and LNURL-pay (signer_core/methods/pay.py)
    methods: ClassVar[frozenset[str]] = LIGHTNING_METHODS | {"pay", "receive"}
    notifications: ClassVar[frozenset[str]] = PAYMENT_NOTIFICATIONS
    keeps_metadata: ClassVar[bool] = True  # make_invoice's metadata stays on the tx (NWC-06)

    def __init__(
        self, data: dict[str, Any], env: WalletEnv, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(data, env, transport=transport)

    @property
    def http_transport(self) -> httpx.BaseTransport | None:
        """The transport the mint client uses (Pyodide's fetch), for LNURL-pay calls too."""
        return self.client.transport

    @property
    def payment_network(self) -> str | None:
        """None: our network is a guess from the mint's URL; the mint's Lightning node
        refuses an invoice of another network when quoting it (base.payment_network)."""
        return None

    @staticmethod
    def create_data(mint_url: str, *, network: str | None = None, now: int = 0) -> dict[str, Any]:
        """A fresh state for ``wallet create`` (no network access)."""
        return create_data(mint_url, network=network, now=now)

    # --- info and balance (offline) -----------------------------------------------------

    def get_info(self) -> dict[str, Any]:
        info = self.data.get("mint_info") or {}
        out: dict[str, Any] = {
            "alias": ALIAS,
            "network": self._network(),
            "mint_url": self.data["mint_url"],
            "unit": self.unit,
        }
        if info.get("name"):
            out["mint_name"] = info["name"]
        if info.get("version"):
            out["mint_version"] = info["version"]
        return out

    def _network(self) -> str:
        explicit = self.data.get("network") or self.env.config.get("network")
        if isinstance(explicit, str) and explicit:
            return explicit
        host = urlsplit(self.data["mint_url"]).hostname or ""
        if host in ("localhost", "::1") or host.startswith("127."):
            return "regtest"  # a mint on this machine is a development mint (fake backend)
        return "mainnet"

    def get_balance_msat(self) -> int:
        return self.state.balance() * 1000

    # --- incoming (NUT-04) --------------------------------------------------------------

    def make_invoice(
        self,
        *,
        amount_msat: int,
        description: str | None,
        description_hash: str | None,
        expiry: int | None,
        metadata: dict[str, Any] | None,
    ) -> Transaction:
        """A mint quote. ``expiry`` is the mint's to choose (nutshell: one hour)."""
        return incoming.make_invoice(self, amount_msat, description, description_hash, metadata)

    def needs_sync(self) -> bool:
        return bool(
            self.state.mint_quotes
            or self.state.pending_outputs
            or self.state.heal_due
            or any(p.get("state") == "sent" for p in self.state.payments.values())
        )

    def sync(self) -> SyncResult:
        received = incoming.sync(self)
        return SyncResult(received=received, wake_at=incoming.wake_at(self))

    # --- lookups (offline) --------------------------------------------------------------

    def lookup_invoice(self, *, payment_hash: str) -> Transaction | None:
        wanted = payment_hash.lower()
        for entry in reversed(self.state.txs):
            if entry.get("payment_hash") == wanted:
                return Transaction.from_dict(entry)
        return None

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
        rows = []
        for index, entry in enumerate(self.state.txs):
            created = int(entry.get("created_at", 0))
            if from_time is not None and created < from_time:
                continue
            if until is not None and created > until:
                continue
            if tx_type is not None and entry.get("type") != tx_type:
                continue
            if not unpaid and entry.get("type") == "incoming" and entry.get("state") != "settled":
                continue
            rows.append((created, index, entry))
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        page = rows[max(offset, 0) : max(offset, 0) + max(limit, 0)]
        return [Transaction.from_dict(entry) for _, _, entry in page]

    # --- outgoing (NUT-05 + NUT-08) -----------------------------------------------------

    def prepare_payment(
        self, *, invoice: str, amount_msat: int | None, request_id: str
    ) -> PreparedPayment:
        return prepare.prepare(self, invoice, amount_msat, request_id)

    def send_payment(self, prepared: PreparedPayment) -> PaymentOutcome:
        return payments.send(self, prepared)

    def reconcile_payment(self, prepared: PreparedPayment) -> PaymentOutcome | None:
        return payments.reconcile(self, prepared)

    def cancel_payment(self, prepared: PreparedPayment) -> None:
        payments.cancel(self, prepared)

    # --- restore from seed (NUT-09 + NUT-13) --------------------------------------------

    def restore(
        self, *, batch: int = RESTORE_BATCH, empty_batches: int = RESTORE_EMPTY_BATCHES
    ) -> int:
        """Rebuild proofs and counters from the seed: walk every keyset of our unit from
        counter 0 in batches until ``empty_batches`` come back empty, keep the unspent proofs.
        Returns the amount (sat) added. Safe to run on a wallet that already has proofs."""
        try:
            self.load_keysets(force=True)
            added = 0
            for keyset_id, keyset in self.data["keysets"].items():
                if keyset.get("unit") != self.unit:
                    continue
                found: list[dict[str, Any]] = []
                start, empty = 0, 0
                while empty < empty_batches:
                    proofs, last = self.restore_range(keyset_id, start, batch)
                    if last < 0:
                        empty += 1
                    else:
                        empty = 0
                        found.extend(proofs)
                        self.state.bump_counter(keyset_id, last + 1)
                    start += batch
                for i in range(0, len(found), 500):
                    added += self.keep_unspent(found[i : i + 500])
            return added
        except CashuError as exc:
            raise incoming.nwc_error(exc, "restore the wallet") from None
