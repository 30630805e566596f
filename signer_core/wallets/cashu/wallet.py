"""``CashuWallet``: the ``Wallet`` protocol (signer_core.wallets.base) over one Cashu mint.

All state lives in the ``data`` dict handed in (see ``state.py`` for its layout); a new
instance is built per request from the unsealed state, exactly as the cold-start pipeline
does. Importing this module does not import httpx (the client imports it on first use).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import (
    PaymentOutcome,
    PreparedPayment,
    SyncResult,
    Transaction,
    TxType,
    WalletEnv,
)
from signer_core.wallets.cashu import payments
from signer_core.wallets.cashu.amounts import split_amount
from signer_core.wallets.cashu.client import (
    CODE_OUTPUTS_SIGNED,
    CODE_QUOTE_ISSUED,
    CODE_QUOTE_NOT_PAID,
    CashuError,
    CashuMintError,
    CashuProtocolError,
    MintUnreachable,
)
from signer_core.wallets.cashu.core import CashuCore
from signer_core.wallets.cashu.state import create_data

if TYPE_CHECKING:  # pragma: no cover
    import httpx

log = logging.getLogger(__name__)

ALIAS = "nwc-signer (cashu)"
RESTORE_BATCH = 100
RESTORE_EMPTY_BATCHES = 3


def _nwc_error(exc: CashuError, what: str) -> NwcError:
    if isinstance(exc, CashuMintError):
        return NwcError(ErrorCode.OTHER, f"the mint refused to {what}: {exc.detail}")
    if isinstance(exc, MintUnreachable):
        return NwcError(ErrorCode.OTHER, f"could not {what}: {exc}")
    return NwcError(ErrorCode.INTERNAL, f"could not {what}: {exc}")


class CashuWallet(CashuCore):
    kind: ClassVar[str] = "cashu"
    methods: ClassVar[frozenset[str]] = frozenset(
        {
            "pay_invoice",
            "make_invoice",
            "lookup_invoice",
            "list_transactions",
            "get_balance",
            "get_info",
        }
    )
    notifications: ClassVar[frozenset[str]] = frozenset({"payment_received", "payment_sent"})

    def __init__(
        self, data: dict[str, Any], env: WalletEnv, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(data, env, transport=transport)

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
        from signer_core.protocol.bolt11 import InvalidInvoice, decode

        if amount_msat <= 0:
            raise NwcError(ErrorCode.OTHER, "amount must be positive")
        if amount_msat % 1000:
            raise NwcError(
                ErrorCode.OTHER, "amount must be a whole number of satoshis (Cashu mints in sats)"
            )
        if description_hash:
            raise NwcError(
                ErrorCode.NOT_IMPLEMENTED,
                "Cashu mints cannot make invoices with a description_hash",
            )
        try:
            quote = self.client.mint_quote(amount_msat // 1000, self.unit, description)
        except CashuMintError as exc:
            if not description or "description" not in exc.detail.lower():
                raise _nwc_error(exc, "make an invoice") from None
            try:  # this mint's backend takes no descriptions: an invoice without one still works
                quote = self.client.mint_quote(amount_msat // 1000, self.unit, None)
            except CashuError as exc2:
                raise _nwc_error(exc2, "make an invoice") from None
        except CashuError as exc:
            raise _nwc_error(exc, "make an invoice") from None
        quote_id, request = quote.get("quote"), quote.get("request")
        if not isinstance(quote_id, str) or not isinstance(request, str):
            raise NwcError(ErrorCode.INTERNAL, "the mint returned a malformed mint quote")
        try:
            inv = decode(request)
        except InvalidInvoice as exc:
            raise NwcError(
                ErrorCode.INTERNAL, f"the mint returned an invalid invoice: {exc}"
            ) from None
        if inv.amount_msat != amount_msat:
            raise NwcError(ErrorCode.INTERNAL, "the mint's invoice is for a different amount")
        expires_at = int(quote.get("expiry") or inv.expires_at)
        self.state.mint_quotes[quote_id] = {
            "request": request,
            "payment_hash": inv.payment_hash,
            "amount": amount_msat // 1000,
            "expiry": expires_at,
            "created_at": self.env.now,
        }
        tx = Transaction(
            type="incoming",
            state="pending",
            invoice=request,
            payment_hash=inv.payment_hash,
            amount=amount_msat,
            created_at=self.env.now,
            description=description if description is not None else inv.description,
            description_hash=inv.description_hash,
            expires_at=expires_at,
            metadata=metadata,
        )
        self.state.add_tx(quote_id, tx)
        return tx

    def needs_sync(self) -> bool:
        return bool(
            self.state.mint_quotes
            or self.state.pending_outputs
            or any(p.get("state") == "sent" for p in self.state.payments.values())
        )

    def sync(self) -> SyncResult:
        received: list[Transaction] = []
        try:
            for quote_id in list(self.state.mint_quotes):
                tx = self._settle_quote(quote_id)
                if tx is not None:
                    received.append(tx)
            payments.sync_sent(self)
            if self.state.pending_outputs:
                self.heal()
        except MintUnreachable as exc:
            log.info("sync stopped: %s", exc)
        except CashuError as exc:
            log.warning("sync stopped: %s", exc)
        return SyncResult(received=received, wake_at=self._wake_at())

    def _wake_at(self) -> int | None:
        now = self.env.now
        times = []
        for q in self.state.mint_quotes.values():
            age = now - int(q.get("created_at", now))
            step = 10 if age < 300 else 60 if age < 3600 else 600
            at = now + step
            expiry = int(q.get("expiry") or 0)
            if expiry > now:
                at = min(at, expiry + 1)
            times.append(at)
        if self.state.pending_outputs or any(
            p.get("state") == "sent" for p in self.state.payments.values()
        ):
            times.append(now + 30)
        return min(times) if times else None

    def _settle_quote(self, quote_id: str) -> Transaction | None:
        q = self.state.mint_quotes[quote_id]
        if "outputs" not in q:
            try:
                remote = self.client.get_mint_quote(quote_id)
            except CashuMintError as exc:
                if "not found" in exc.detail.lower():
                    return self._close_quote(quote_id, "failed")
                raise
            state = str(remote.get("state") or ("PAID" if remote.get("paid") else "UNPAID"))
            if state == "UNPAID":
                if self.env.now >= int(q.get("expiry") or 0):
                    return self._close_quote(quote_id, "expired")
                return None
            if state == "ISSUED":  # minted by a run whose state was lost: recover by restore
                recovered = self.heal()
                return self._close_quote(quote_id, "settled" if recovered else "failed")
            keyset_id = self.active_keyset()
            amounts = split_amount(int(q["amount"]))
            start = self.state.take_counters(keyset_id, len(amounts))
            q["outputs"] = {"keyset_id": keyset_id, "start": start, "amounts": amounts}
        spec = q["outputs"]
        outputs = self.make_outputs(spec["keyset_id"], spec["amounts"], spec["start"])
        try:
            signatures = self.client.mint(quote_id, [o.blinded() for o in outputs])
        except CashuMintError as exc:
            detail = exc.detail.lower()
            if exc.code in (CODE_OUTPUTS_SIGNED, CODE_QUOTE_ISSUED) or "already" in detail:
                found, _ = self.restore_range(spec["keyset_id"], spec["start"], len(outputs))
                added = self.keep_unspent(found)
                if not added and exc.code == CODE_QUOTE_ISSUED:
                    added = self.heal()
                return self._close_quote(quote_id, "settled" if added else "failed")
            if exc.code == CODE_QUOTE_NOT_PAID:
                return None
            if "expired" in detail:
                return self._close_quote(quote_id, "expired")
            raise
        proofs = self.to_proofs(outputs, signatures)
        if sum(p["amount"] for p in proofs) != int(q["amount"]):
            raise CashuProtocolError("the mint signed a different amount than the quote")
        self.state.add_proofs(proofs)
        return self._close_quote(quote_id, "settled")

    def _close_quote(self, quote_id: str, tx_state: str) -> Transaction | None:
        self.state.mint_quotes.pop(quote_id, None)
        tx = self.state.tx_by_ref(quote_id, "incoming")
        if tx is None:
            return None
        tx["state"] = tx_state
        if tx_state != "settled":
            return None
        tx["settled_at"] = self.env.now
        return Transaction.from_dict(tx)

    # --- lookups (offline) --------------------------------------------------------------

    def lookup_invoice(
        self, *, payment_hash: str | None, invoice: str | None
    ) -> Transaction | None:
        if not payment_hash and invoice:
            from signer_core.protocol.bolt11 import InvalidInvoice, decode

            try:
                payment_hash = decode(invoice).payment_hash
            except InvalidInvoice as exc:
                raise NwcError(ErrorCode.OTHER, f"invalid invoice: {exc}") from None
        if not payment_hash:
            raise NwcError(ErrorCode.OTHER, "payment_hash or invoice is required")
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
        return payments.prepare(self, invoice, amount_msat, request_id)

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
            raise _nwc_error(exc, "restore the wallet") from None
