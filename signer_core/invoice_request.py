"""An invoice request for the wallet's lightning address (LNURL-pay), and its zap receipts.

The watcher serves `/.well-known/lnurlp/<name>` for the wallet; a payer's callback becomes an
`invoice` delivery (docs/lightning-address.md). This module answers it with a bolt11 made on
the wallet backend, and, once a later sync sees such an invoice paid, signs the NIP-57 zap
receipt (kind 9735) for the watcher to publish.

- The invoice's description hash is sha256 of the LNURL metadata, or of the zap request JSON
  for a zap (LUD-06, NIP-57). A backend that cannot make description-hash invoices (Cashu:
  NUT-04 mint quotes take a plain description) gets the metadata's `text/plain` instead;
  docs/lightning-address.md says what that costs.
- The zap request rides with the transaction (its `metadata`, inside the sealed state); the
  receipt is owed from the sync that sees the invoice paid (the sync's commit records it)
  until a 200 answer carrying it is committed: signer_core/zap_receipts.py. Its
  `created_at` is the settlement time, so a receipt signed twice has one event id.
- Receiving costs no budget: budgets are per connection and limit spending, and an invoice
  request comes from no connection. The amount must be within the address's range.
"""

from __future__ import annotations

import logging
from typing import Any

from signer_core.attempt import PENDING_WAKE_S, Deps, open_backend
from signer_core.protocol import zaps
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.text import BadJson, loads
from signer_core.protocol.webhook import WebhookResponse
from signer_core.state import WalletState
from signer_core.wallets.base import Transaction, Wallet
from signer_core.zap_receipts import METADATA_KEY  # the transaction metadata written here

log = logging.getLogger("nwc_signer.invoice_request")

MAX_DESCRIPTION_CHARS = 100


def handle_invoice(deps: Deps, invoice: dict[str, Any], now: int) -> WebhookResponse:
    """Make the invoice a payer asked for; 200 with {"pr"} or with a {"reason"} to show."""
    amount, metadata = int(invoice["amount"]), str(invoice["metadata"])
    if not zaps.MIN_SENDABLE_MSAT <= amount <= zaps.MAX_SENDABLE_MSAT:
        return refuse(
            f"amount must be between {zaps.MIN_SENDABLE_MSAT} and {zaps.MAX_SENDABLE_MSAT} msat"
        )
    zap: zaps.ZapRequest | None = None
    if invoice.get("zap_request") is not None:
        try:
            zap = zaps.check_zap_request(invoice["zap_request"], amount)
        except zaps.BadZapRequest as exc:
            return refuse(str(exc))
    session = deps.read_session()
    state = session.open_as_admin()
    wallet = open_backend(state, deps, now)
    record: dict[str, Any] = {"address": invoice.get("address", "")}
    if invoice.get("comment"):
        record["comment"] = invoice["comment"]
    if zap is not None:
        record["zap_request"] = dict(zap.event)
    described = zap.json() if zap is not None else metadata
    try:
        tx = _make_invoice(wallet, amount, described, metadata, {METADATA_KEY: record})
    except NwcError as exc:
        log.info("invoice request refused by the backend: %s", exc.code)
        return refuse(exc.message)
    remember_address(state, str(invoice.get("address", "")))
    session.commit()
    log.info("invoice made for a lightning address", extra={"zap": zap is not None})
    return WebhookResponse(200, wake_at=now + PENDING_WAKE_S, invoice={"pr": tx.invoice})


def refuse(reason: str) -> WebhookResponse:
    """A 200 the watcher turns into LNURL's {"status": "ERROR", "reason": ...}."""
    return WebhookResponse(200, message=reason, invoice={"reason": reason})


def _make_invoice(
    wallet: Wallet, amount: int, described: str, metadata: str, meta: dict[str, Any]
) -> Transaction:
    """With the description hash; a backend that has none gets the plain description."""
    try:
        return wallet.make_invoice(
            amount_msat=amount,
            description=None,
            description_hash=zaps.description_hash(described),
            expiry=None,
            metadata=meta,
        )
    except NwcError as exc:
        if exc.code != ErrorCode.NOT_IMPLEMENTED:
            raise
    return wallet.make_invoice(
        amount_msat=amount,
        description=plain_description(metadata),
        description_hash=None,
        expiry=None,
        metadata=meta,
    )


def plain_description(metadata: str) -> str:
    """The `text/plain` entry of LNURL metadata (what a payer's wallet shows)."""
    try:
        entries = loads(metadata)
    except BadJson:
        return ""
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == "text/plain":
                return str(entry[1])[:MAX_DESCRIPTION_CHARS]
    return ""


def remember_address(state: WalletState, address: str) -> None:
    """Keep the address the watcher serves for this wallet (get_info's `lud16`)."""
    if address:
        state.lightning_address = address[:320]
