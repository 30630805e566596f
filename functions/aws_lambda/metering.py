"""Payment amounts for the EMF metrics, without the core knowing about metrics.

The pipeline returns only encrypted events, so the entry point cannot see what was paid.
Instead it hands the pipeline `wrap` as its wallet hook (`handle_delivery`'s `wallet_hook`):
each opened wallet is wrapped, and the amounts of payments the backend reports as settled
(sent) and of incoming payments a sync found are recorded. The handler drains the counters
into metrics after each delivery.
"""

from __future__ import annotations

from typing import Any

from signer_core.wallets.base import Wallet

SENT_MSAT: list[int] = []
RECEIVED_MSAT: list[int] = []


class _Metered:
    """Delegates everything to the real wallet; notes settled amounts on the way out."""

    def __init__(self, inner: Wallet) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send_payment(self, prepared: Any) -> Any:
        outcome = self._inner.send_payment(prepared)
        if getattr(outcome, "status", None) == "settled":
            SENT_MSAT.append(int(prepared.amount_msat))
        return outcome

    def reconcile_payment(self, prepared: Any) -> Any:
        outcome = self._inner.reconcile_payment(prepared)
        if outcome is not None and getattr(outcome, "status", None) == "settled":
            SENT_MSAT.append(int(prepared.amount_msat))
        return outcome

    def sync(self, *args: Any, **kwargs: Any) -> Any:
        result = self._inner.sync(*args, **kwargs)
        for tx in getattr(result, "received", []) or []:
            amount = getattr(tx, "amount_msat", None) or getattr(tx, "amount", None)
            if isinstance(amount, int):
                RECEIVED_MSAT.append(amount)
        return result


def wrap(wallet: Wallet) -> Wallet:
    """The pipeline's wallet hook: the same wallet, metered."""
    metered: Wallet = _Metered(wallet)  # type: ignore[assignment]
    return metered


def drain() -> tuple[list[int], list[int]]:
    sent, received = SENT_MSAT[:], RECEIVED_MSAT[:]
    SENT_MSAT.clear()
    RECEIVED_MSAT.clear()
    return sent, received
