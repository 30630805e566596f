"""The Cashu wallet's state: one JSON-serialisable dict, mutated in place.

Layout (``data["v"] == 1``)::

    mint_url, unit ("sat"), network (optional override), created_at
    mint_info        {name, version, pubkey, fetched_at}           cached /v1/info
    keysets          {id: {unit, active, input_fee_ppk, final_expiry, keys: {amount: hex}}}
    keysets_checked_at
    counters         {keyset_id: next NUT-13 counter}
    proofs           [{id, amount, secret, C, reserved?: melt quote id}]
    mint_quotes      {quote_id: {request, payment_hash, amount, expiry, created_at,
                                 outputs?: {keyset_id, start, amounts}}}   pending incoming
    payments         {melt_quote_id: {..., swap?: plan (swap.py)}}  prepared / in-flight melts
    payments_done    {melt_quote_id: {status, preimage, fees_paid_msat, message, at}}
    pending_outputs  [{keyset_id, start, count, ref?}]   outputs of unknown result (older states)
    heal_due         true when outputs were signed at counters we lost track of (optional)
    txs              [{ref, ...NIP-47 transaction fields}]          newest last

Everything secret (proof secrets) stays in here; nothing is logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from signer_core.wallets.base import Transaction

VERSION = 1
TX_LOG_MAX = 2000  # finished transactions kept; pending ones are never dropped
DONE_PAYMENTS_MAX = 200

Proof = dict[str, Any]


def _empty_collections() -> dict[str, Any]:
    """The state's collections when empty (fresh objects on every call)."""
    return {
        "keysets": {},
        "keysets_checked_at": 0,
        "counters": {},
        "proofs": [],
        "mint_quotes": {},
        "payments": {},
        "payments_done": {},
        "pending_outputs": [],
        "txs": [],
    }


def create_data(
    mint_url: str, *, unit: str = "sat", network: str | None = None, now: int = 0
) -> dict[str, Any]:
    if not mint_url.startswith(("http://", "https://")):
        raise ValueError("mint_url must be an http(s) URL")
    data: dict[str, Any] = {
        "v": VERSION,
        "mint_url": mint_url.rstrip("/"),
        "unit": unit,
        "created_at": now,
        **_empty_collections(),
    }
    if network:
        data["network"] = network
    return data


def check_data(data: dict[str, Any]) -> None:
    """Validate the version and fill keys a newer writer may have added."""
    version = data.get("v")
    if version != VERSION:
        raise ValueError(f"unsupported cashu wallet state version {version!r}")
    if not isinstance(data.get("mint_url"), str):
        raise ValueError("cashu wallet state has no mint_url")
    for key, value in {"unit": "sat", **_empty_collections()}.items():
        data.setdefault(key, value)


class State:
    """Typed accessors over the state dict (no copies: every change lands in ``data``)."""

    def __init__(self, data: dict[str, Any]) -> None:
        check_data(data)
        self.data = data

    # --- proofs -------------------------------------------------------------------------

    @property
    def proofs(self) -> list[Proof]:
        proofs: list[Proof] = self.data["proofs"]
        return proofs

    def spendable(self) -> list[Proof]:
        return [p for p in self.proofs if not p.get("reserved")]

    def reserved_by(self, ref: str) -> list[Proof]:
        return [p for p in self.proofs if p.get("reserved") == ref]

    def balance(self) -> int:
        return sum(int(p["amount"]) for p in self.spendable())

    def held(self) -> int:
        """Every proof, reserved ones included (what payments in flight may give back)."""
        return sum(int(p["amount"]) for p in self.proofs)

    def add_proofs(self, proofs: Iterable[Proof]) -> int:
        """Add proofs not already held (by secret); returns the amount added."""
        known = {p["secret"] for p in self.proofs}
        added = 0
        for proof in proofs:
            if proof["secret"] in known:
                continue
            known.add(proof["secret"])
            self.proofs.append(
                {
                    "id": proof["id"],
                    "amount": int(proof["amount"]),
                    "secret": proof["secret"],
                    "C": proof["C"],
                }
            )
            added += int(proof["amount"])
        return added

    def remove_proofs(self, secrets: Iterable[str]) -> None:
        drop = set(secrets)
        self.data["proofs"] = [p for p in self.proofs if p["secret"] not in drop]

    def reserve(self, secrets: Iterable[str], ref: str) -> None:
        wanted = set(secrets)
        for proof in self.proofs:
            if proof["secret"] in wanted:
                proof["reserved"] = ref

    def release(self, ref: str) -> None:
        for proof in self.proofs:
            if proof.get("reserved") == ref:
                del proof["reserved"]

    # --- counters -----------------------------------------------------------------------

    def take_counters(self, keyset_id: str, count: int) -> int:
        """Reserve ``count`` NUT-13 counters (advanced now, before any request); returns start."""
        counters: dict[str, int] = self.data["counters"]
        start = int(counters.get(keyset_id, 0))
        counters[keyset_id] = start + count
        return start

    def counter(self, keyset_id: str) -> int:
        return int(self.data["counters"].get(keyset_id, 0))

    def bump_counter(self, keyset_id: str, at_least: int) -> None:
        counters: dict[str, int] = self.data["counters"]
        counters[keyset_id] = max(int(counters.get(keyset_id, 0)), at_least)

    # --- transaction log ----------------------------------------------------------------

    @property
    def txs(self) -> list[dict[str, Any]]:
        txs: list[dict[str, Any]] = self.data["txs"]
        return txs

    def add_tx(self, ref: str, tx: Transaction) -> dict[str, Any]:
        entry = {"ref": ref, **{k: v for k, v in tx.to_nip47().items()}}
        self.txs.append(entry)
        self._trim_txs()
        return entry

    def tx_by_ref(self, ref: str, tx_type: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = None
        for entry in reversed(self.txs):
            if entry.get("ref") == ref and entry.get("type") == tx_type:
                found = entry
                break
        return found

    def drop_tx(self, ref: str, tx_type: str) -> None:
        self.data["txs"] = [
            t for t in self.txs if not (t.get("ref") == ref and t.get("type") == tx_type)
        ]

    def _trim_txs(self) -> None:
        excess = len(self.txs) - TX_LOG_MAX
        if excess <= 0:
            return
        kept: list[dict[str, Any]] = []
        for entry in self.txs:  # oldest first; drop finished ones until within the cap
            if excess > 0 and entry.get("state") != "pending":
                excess -= 1
                continue
            kept.append(entry)
        self.data["txs"] = kept

    # --- payments -----------------------------------------------------------------------

    @property
    def payments(self) -> dict[str, dict[str, Any]]:
        payments: dict[str, dict[str, Any]] = self.data["payments"]
        return payments

    @property
    def payments_done(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = self.data["payments_done"]
        return done

    def mark_done(self, ref: str, outcome: dict[str, Any]) -> None:
        self.payments.pop(ref, None)
        self.payments_done[ref] = outcome
        if len(self.payments_done) > DONE_PAYMENTS_MAX:
            oldest = sorted(self.payments_done, key=lambda k: self.payments_done[k].get("at", 0))
            for key in oldest[: len(self.payments_done) - DONE_PAYMENTS_MAX]:
                del self.payments_done[key]

    @property
    def mint_quotes(self) -> dict[str, dict[str, Any]]:
        quotes: dict[str, dict[str, Any]] = self.data["mint_quotes"]
        return quotes

    @property
    def pending_outputs(self) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = self.data["pending_outputs"]
        return pending

    @property
    def heal_due(self) -> bool:
        """A heal (restore scan) is owed: outputs were signed at counters we lost track of."""
        return bool(self.data.get("heal_due"))

    @heal_due.setter
    def heal_due(self, due: bool) -> None:
        if due:
            self.data["heal_due"] = True
        else:
            self.data.pop("heal_due", None)
