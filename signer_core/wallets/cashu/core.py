"""The wallet's engine: keysets, deterministic outputs, signatures to proofs, healing.

Money-safety rules kept here:

- NUT-13 counters are taken (advanced in the state) *before* a request that uses them, so
  a retry after a crash never reuses a secret, and a lost answer can be fetched again with
  NUT-09 restore over the same counter range.
- A payment's swap is planned in its claim and done after it (swap.py): its inputs stay
  reserved and its outputs held back from heal until the payment knows it went through.
  ``pending_outputs`` (ranges whose result is unknown) is still healed for older states.
- Every signature is checked: keyset and amount must match the output, DLEQ (NUT-12) must
  verify when the mint sends one (nutshell always does).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from signer_core.crypto.ec import Point
from signer_core.wallets.base import WalletEnv
from signer_core.wallets.cashu import dhke
from signer_core.wallets.cashu.amounts import input_fee
from signer_core.wallets.cashu.client import (
    CashuMintError,
    CashuProtocolError,
    MintClient,
)
from signer_core.wallets.cashu.nut13 import SecretDeriver
from signer_core.wallets.cashu.state import Proof, State

if TYPE_CHECKING:  # pragma: no cover
    import httpx

log = logging.getLogger(__name__)

KEYSET_REFRESH_SECONDS = 3600
RESTORE_BATCH = 25
HEAL_LOOKBACK = 100


class SignatureError(CashuProtocolError):
    """The mint returned a signature that does not check out (wrong key, bad DLEQ)."""


@dataclass
class Output:
    """One deterministic blinded message and what is needed to unblind its signature."""

    keyset_id: str
    counter: int
    amount: int
    secret: str
    r: bytes
    b_blind: str  # hex

    def blinded(self) -> dict[str, Any]:
        return {"amount": self.amount, "id": self.keyset_id, "B_": self.b_blind}


def derive_keyset_id(
    keys: dict[int, str], version: str, unit: str, input_fee_ppk: int, final_expiry: int | None
) -> str:
    """NUT-02 keyset id of a set of public keys (version 00 or 01)."""
    ordered = sorted(keys.items())
    if version == "00":
        joined = b"".join(bytes.fromhex(pk) for _, pk in ordered)
        return "00" + hashlib.sha256(joined).hexdigest()[:14]
    if version == "01":
        pre = b",".join(f"{amount}:{pk.lower()}".encode() for amount, pk in ordered)
        pre += f"|unit:{unit}".encode()
        if input_fee_ppk > 0:
            pre += f"|input_fee_ppk:{input_fee_ppk}".encode()
        if final_expiry is not None:
            pre += f"|final_expiry:{final_expiry}".encode()
        return "01" + hashlib.sha256(pre).hexdigest()
    raise ValueError(f"unsupported keyset id version {version!r}")


class CashuCore:
    def __init__(
        self, data: dict[str, Any], env: WalletEnv, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.state = State(data)
        self.data = data
        self.env = env
        self.client = MintClient(data["mint_url"], env.http_timeout, transport)
        self._deriver: SecretDeriver | None = None

    @property
    def unit(self) -> str:
        return str(self.data.get("unit", "sat"))

    @property
    def deriver(self) -> SecretDeriver:
        if self._deriver is None:
            self._deriver = SecretDeriver(self.env.seed)
        return self._deriver

    # --- keysets (NUT-01/02) ------------------------------------------------------------

    def ppk(self) -> dict[str, int]:
        return {k: int(v.get("input_fee_ppk", 0)) for k, v in self.data["keysets"].items()}

    def load_keysets(self, force: bool = False) -> None:
        """Refresh the cached keyset list (hourly, or when forced) and fetch missing keys."""
        fresh = self.env.now - int(self.data.get("keysets_checked_at", 0)) < KEYSET_REFRESH_SECONDS
        if fresh and not force and self._active_ids():
            return
        if "mint_info" not in self.data:
            self._load_info()
        cached: dict[str, dict[str, Any]] = self.data["keysets"]
        listed = self.client.keysets()
        listed_ids = {e.get("id") for e in listed}
        for cached_id, cached_keyset in cached.items():
            if cached_id not in listed_ids:
                cached_keyset["active"] = False  # dropped by the mint: no new outputs
        for entry in listed:
            kid = entry.get("id")
            if not isinstance(kid, str) or entry.get("unit") != self.unit:
                continue
            if kid[:2] not in ("00", "01"):
                continue  # legacy base64 ids: no NUT-13 derivation, never used by us
            known = cached.get(kid)
            meta = {
                "unit": self.unit,
                "active": bool(entry.get("active", False)),
                "input_fee_ppk": int(entry.get("input_fee_ppk") or 0),
                "final_expiry": entry.get("final_expiry"),
            }
            if known is not None and known.get("input_fee_ppk") == meta["input_fee_ppk"]:
                known.update(meta)
                continue
            keys = self._fetch_keys(kid, meta)
            if keys is not None:
                cached[kid] = {**meta, "keys": keys}
        self.data["keysets_checked_at"] = self.env.now

    def _load_info(self) -> None:
        try:
            info = self.client.info()
        except CashuMintError:
            info = {}
        self.data["mint_info"] = {
            "name": str(info.get("name") or "")[:100],
            "version": str(info.get("version") or "")[:100],
            "pubkey": str(info.get("pubkey") or "")[:66],
            "fetched_at": self.env.now,
        }

    def _fetch_keys(self, kid: str, meta: dict[str, Any]) -> dict[str, str] | None:
        for entry in self.client.keys(kid):
            if entry.get("id") != kid or not isinstance(entry.get("keys"), dict):
                continue
            keys = {int(a): str(pk) for a, pk in entry["keys"].items()}
            final_expiry = meta.get("final_expiry", entry.get("final_expiry"))
            try:
                derived = derive_keyset_id(
                    keys, kid[:2], self.unit, int(meta["input_fee_ppk"]), final_expiry
                )
            except ValueError:
                derived = ""
            if derived != kid:
                log.warning("ignoring keyset %s: its id does not match its keys", kid)
                return None
            return {str(a): pk for a, pk in sorted(keys.items())}
        return None

    def _active_ids(self) -> list[str]:
        return [
            kid
            for kid, ks in self.data["keysets"].items()
            if ks.get("active") and ks.get("unit") == self.unit and ks.get("keys")
        ]

    def active_keyset(self) -> str:
        self.load_keysets()
        ids = self._active_ids()
        if not ids:
            self.load_keysets(force=True)
            ids = self._active_ids()
        if not ids:
            raise CashuProtocolError(f"the mint has no active {self.unit} keyset")
        # cheapest to spend later; ties broken by id for determinism
        return min(ids, key=lambda k: (int(self.data["keysets"][k].get("input_fee_ppk", 0)), k))

    def mint_key(self, keyset_id: str, amount: int) -> Point:
        keyset = self.data["keysets"].get(keyset_id)
        if keyset is None:
            self.load_keysets(force=True)
            keyset = self.data["keysets"].get(keyset_id)
        if keyset is None:
            raise SignatureError(f"signature from unknown keyset {keyset_id}")
        pk = keyset["keys"].get(str(amount))
        if pk is None:
            raise SignatureError(f"keyset {keyset_id} has no key for amount {amount}")
        return dhke.point(pk)

    # --- outputs and signatures ---------------------------------------------------------

    def make_outputs(self, keyset_id: str, amounts: list[int], start: int) -> list[Output]:
        outputs = []
        for i, amount in enumerate(amounts):
            secret, r = self.deriver.derive(keyset_id, start + i)
            b_blind = dhke.point_hex(dhke.blind(secret, r))
            outputs.append(Output(keyset_id, start + i, amount, secret, r, b_blind))
        return outputs

    def to_proofs(self, outputs: list[Output], signatures: list[Any]) -> list[Proof]:
        """Unblind signatures (in output order) after checking keyset, amount and DLEQ."""
        if len(signatures) > len(outputs):
            raise SignatureError("mint returned more signatures than outputs")
        proofs = []
        for out, sig in zip(outputs, signatures, strict=False):
            if not isinstance(sig, dict) or not isinstance(sig.get("C_"), str):
                raise SignatureError("malformed blind signature")
            amount = int(sig.get("amount", -1))
            if sig.get("id") != out.keyset_id or amount <= 0:
                raise SignatureError("blind signature does not match its output")
            key = self.mint_key(out.keyset_id, amount)
            c_blind = dhke.point(sig["C_"])
            dleq = sig.get("dleq")
            if isinstance(dleq, dict) and not dhke.verify_dleq(
                dhke.point(out.b_blind),
                c_blind,
                bytes.fromhex(str(dleq.get("e", ""))),
                bytes.fromhex(str(dleq.get("s", ""))),
                key,
            ):
                raise SignatureError("the mint's DLEQ proof does not verify (NUT-12)")
            c = dhke.unblind(c_blind, out.r, key)
            proofs.append(
                {
                    "id": out.keyset_id,
                    "amount": amount,
                    "secret": out.secret,
                    "C": dhke.point_hex(c),
                }
            )
        return proofs

    @staticmethod
    def wire(proofs: list[Proof]) -> list[dict[str, Any]]:
        return [
            {"id": p["id"], "amount": p["amount"], "secret": p["secret"], "C": p["C"]}
            for p in proofs
        ]

    def proof_states(self, proofs: list[Proof]) -> dict[str, str]:
        """secret -> UNSPENT | PENDING | SPENT (NUT-07)."""
        if not proofs:
            return {}
        ys = {p["secret"]: dhke.point_hex(dhke.secret_point(p["secret"])) for p in proofs}
        states = self.client.checkstate(list(ys.values()))
        return {secret: states[y] for secret, y in ys.items()}

    def restore_range(self, keyset_id: str, start: int, count: int) -> tuple[list[Proof], int]:
        """NUT-09 over counters [start, start+count): proofs found and the last counter found
        (-1 when none). Spent ones are included; the caller checks states."""
        outputs = self.make_outputs(keyset_id, [1] * count, start)
        returned, signatures = self.client.restore([o.blinded() for o in outputs])
        by_b = {o.b_blind: o for o in outputs}
        matched: list[Output] = []
        sigs: list[Any] = []
        for out, sig in zip(returned, signatures, strict=False):
            found = by_b.get(out.get("B_", "")) if isinstance(out, dict) else None
            if found is None:
                raise CashuProtocolError("restore returned an output we did not send")
            matched.append(found)
            sigs.append(sig)
        proofs = self.to_proofs(matched, sigs)
        last = max((o.counter for o in matched), default=-1)
        return proofs, last

    def keep_unspent(self, proofs: list[Proof]) -> int:
        """Add the proofs the mint reports UNSPENT; returns the amount added. Outputs of a
        payment's swap not yet known done are the payment's (swap.py), not free money."""
        held = self._planned_swap_secrets()
        proofs = [p for p in proofs if p["secret"] not in held]
        if not proofs:
            return 0
        states = self.proof_states(proofs)
        return self.state.add_proofs(p for p in proofs if states[p["secret"]] == "UNSPENT")

    def _drop_entry(self, entry: dict[str, Any]) -> None:
        if entry in self.state.pending_outputs:
            self.state.pending_outputs.remove(entry)

    def _planned_swap_secrets(self) -> set[str]:
        held: set[str] = set()
        for payment in self.state.payments.values():
            plan = payment.get("swap")
            if not plan or plan.get("done"):
                continue
            for i in range(len(plan["send"]) + len(plan["keep"])):
                held.add(self.deriver.derive(plan["keyset_id"], plan["start"] + i)[0])
        return held

    # --- healing after lost answers -----------------------------------------------------

    def heal(self) -> int:
        """Reconcile the state with the mint after a lost answer or a crash between a request
        and the state write: drop spent unreserved proofs, settle unknown swaps, and recover
        signatures issued on counters at or past ours (NUT-09). Returns the amount recovered."""
        recovered = 0
        self.load_keysets()
        for entry in list(self.state.pending_outputs):
            proofs, _ = self.restore_range(entry["keyset_id"], entry["start"], entry["count"])
            recovered += self.keep_unspent(proofs)
            ref = entry.get("ref")
            if ref:  # the swap's inputs: spent if it went through, else still ours
                states = self.proof_states(self.state.reserved_by(ref))
                if any(s == "PENDING" for s in states.values()):
                    continue  # still in progress at the mint; look again later
                self.state.remove_proofs(s for s, st in states.items() if st == "SPENT")
                self.state.release(ref)
            self._drop_entry(entry)
        free = self.state.spendable()
        if free:
            states = self.proof_states(free)
            self.state.remove_proofs(s for s, st in states.items() if st == "SPENT")
        for keyset_id in self._active_ids():
            recovered += self.scan_forward(keyset_id)
        self.state.heal_due = False
        return recovered

    def scan_forward(
        self, keyset_id: str, lookback: int = HEAL_LOOKBACK, batch: int = RESTORE_BATCH
    ) -> int:
        """Restore from ``lookback`` counters below ours (a failed request of this run may
        have taken counters a lost run had used) until a batch at or past our counter comes
        back empty; counters move past anything found. Returns the unspent amount added."""
        added = 0
        start = max(self.state.counter(keyset_id) - lookback, 0)
        while True:
            proofs, last = self.restore_range(keyset_id, start, batch)
            if last >= 0:
                added += self.keep_unspent(proofs)
                self.state.bump_counter(keyset_id, last + 1)
            elif start >= self.state.counter(keyset_id):
                return added
            start += batch

    def fee_of(self, proofs: list[Proof]) -> int:
        return input_fee(proofs, self.ppk())
