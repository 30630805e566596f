"""Zap receipts owed: kept in the sealed state from the sync that saw a zap invoice paid
until a 200 answer carrying them is committed (docs/lightning-address.md).

A backend reports an incoming payment settled once, and that settlement is committed by the
sync (``attempt.sync_wallet``) before the delivery's own work runs. If that work then ends
the delivery non-2xx (a ``pay_invoice`` answered 409, a store conflict), no later sync
reports the payment again: the receipt would be lost. So the sync's commit also records
the receipt as owed (``owe_receipts``, via the wrapper ``track`` that ``attempt.
open_backend`` puts around every wallet), and the attempt that produces a 200 answer takes
every owed receipt into it and drops them in the commit that ends it (``take_receipts``,
from ``attempt.notification_events``).

Each entry keeps what the receipt needs (bolt11, preimage, settlement time, the zap request
of at most ``zaps.MAX_ZAP_REQUEST_BYTES``), so any 200 answer can sign it without asking the
backend (a request path has no transaction lookup at hand, and Spark's is a network call).
Receipts are deterministic (``created_at`` = settlement time, same tags: same event id), so
one sent twice — an answer committed but lost on its way to the watcher — is one copy on
the relays. Bounded: an entry older than ``OWED_MAX_AGE_S`` is dropped unsent, and at most
``OWED_MAX`` are kept (the oldest go first).
"""

from __future__ import annotations

import logging
from typing import Any

from signer_core.protocol import zaps
from signer_core.protocol.events import Event, InvalidEvent
from signer_core.state import WalletState
from signer_core.wallets.base import SyncResult, Transaction, Wallet

log = logging.getLogger("nwc_signer.zap_receipts")

METADATA_KEY = "lightning_address"  # the transaction metadata invoice_request.py writes
OWED_MAX_AGE_S = 3600
OWED_MAX = 32


def zap_request_of(tx: Transaction) -> dict[str, Any] | None:
    """The zap request a lightning-address invoice was made for, if it was a zap."""
    record = (tx.metadata or {}).get(METADATA_KEY)
    if isinstance(record, dict) and isinstance(record.get("zap_request"), dict):
        return dict(record["zap_request"])
    return None


def owe_receipts(state: WalletState, received: list[Transaction], now: int) -> None:
    """Record a receipt owed for each zap invoice in a sync's receipts (once per hash: a
    sync re-run after a lost compare-and-swap reports the same payment again)."""
    owed = state.zap_receipts_owed
    for tx in received:
        request = zap_request_of(tx)
        if request is None or tx.payment_hash in owed:
            continue
        owed[tx.payment_hash] = {
            "paid_at": int(tx.settled_at or now),
            "owed_at": now,
            "bolt11": tx.invoice,
            "preimage": tx.preimage,
            "zap_request": request,
        }
    while len(owed) > OWED_MAX:
        oldest = min(owed, key=lambda h: int(owed[h].get("owed_at", 0)))
        log.warning("zap receipt dropped unsent: too many owed")
        del owed[oldest]


def take_receipts(state: WalletState, root_secret: bytes, wallet_id: str, now: int) -> list[Event]:
    """Every owed receipt, signed, and the list emptied: the caller's commit makes the
    answer carrying them final. Nothing owed: nothing changes (reads stay read-only)."""
    owed = state.zap_receipts_owed
    if not owed:
        return []
    secret = zaps.zap_secret(root_secret, wallet_id)
    out: list[Event] = []
    for entry in sorted(owed.values(), key=lambda e: int(e.get("paid_at", 0))):
        if now - int(entry.get("owed_at", 0)) > OWED_MAX_AGE_S:
            log.warning("zap receipt dropped unsent: owed for over %d s", OWED_MAX_AGE_S)
            continue
        try:
            out.append(
                zaps.zap_receipt(
                    secret,
                    entry["zap_request"],
                    bolt11=str(entry.get("bolt11", "")),
                    paid_at=int(entry["paid_at"]),
                    preimage=entry.get("preimage"),
                )
            )
        except (InvalidEvent, KeyError, TypeError, ValueError):
            log.warning("zap receipt dropped: its owed record cannot be signed")
    owed.clear()
    if out:
        log.info("zap receipts signed", extra={"receipts": len(out)})
    return out


def track(wallet: Wallet, state: WalletState, now: int) -> Wallet:
    """The wallet, with each sync's zap receipts recorded as owed in ``state`` (mutated in
    place, so the sync's own commit makes them durable)."""
    tracked: Wallet = _Owing(wallet, state, now)  # type: ignore[assignment]
    return tracked


class _Owing:
    """Delegates everything to the wallet (like the Lambda metering hook); sees syncs."""

    def __init__(self, inner: Wallet, state: WalletState, now: int) -> None:
        self._inner = inner
        self._state = state
        self._now = now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def sync(self) -> SyncResult:
        result = self._inner.sync()
        owe_receipts(self._state, result.received, self._now)
        return result
