"""Payment amounts for the EMF metrics, without the core knowing about metrics.

The pipeline returns only encrypted events, so the entry point cannot see what was paid.
Instead the backend registry (`signer_core.wallets.BACKENDS`, "module:factory" strings) is
pointed at this module once per process: each factory wraps the real one and records the
amounts of payments the backend reports as settled (sent) and of incoming payments a sync
found. The handler drains the counters into metrics after each delivery.
"""

from __future__ import annotations

from typing import Any

SENT_MSAT: list[int] = []
RECEIVED_MSAT: list[int] = []
_ORIGINAL: dict[str, str] = {}
_PREFIX = "functions.aws_lambda.metering:"


class _Metered:
    """Delegates everything to the real wallet; notes settled amounts on the way out."""

    def __init__(self, inner: Any) -> None:
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


def install() -> None:
    """Point every registered backend at a metered wrapper (idempotent)."""
    from signer_core import wallets

    for kind, target in list(wallets.BACKENDS.items()):
        if target.startswith(_PREFIX):
            continue
        _ORIGINAL[kind] = target
        wallets.BACKENDS[kind] = _PREFIX + kind


def drain() -> tuple[list[int], list[int]]:
    sent, received = SENT_MSAT[:], RECEIVED_MSAT[:]
    SENT_MSAT.clear()
    RECEIVED_MSAT.clear()
    return sent, received


def __getattr__(kind: str) -> Any:
    """`metering:<kind>` is the factory of that backend, metered."""
    if kind.startswith("__") or kind not in _ORIGINAL:
        raise AttributeError(kind)
    from importlib import import_module

    module_name, _, attr = _ORIGINAL[kind].partition(":")
    factory = getattr(import_module(module_name), attr)

    def metered(data: dict[str, Any], env: Any) -> Any:
        return _Metered(factory(data, env))

    return metered
