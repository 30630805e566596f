"""Amount arithmetic: power-of-two splits, NUT-02 input fees, proof selection, NUT-08 blanks.

Proofs here are the state's proof dicts (``{"id", "amount", "secret", "C", ...}``); fees
are computed from each proof's keyset ``input_fee_ppk`` (parts per thousand, rounded up
over the whole set of inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Proof = dict[str, Any]
MAX_ORDER = 64


def split_amount(amount: int) -> list[int]:
    """The powers of two summing to ``amount``, ascending (``13 -> [1, 4, 8]``)."""
    if amount < 0:
        raise ValueError("negative amount")
    return [1 << i for i in range(amount.bit_length()) if amount >> i & 1]


def fee_for(ppk_sum: int) -> int:
    """NUT-02: ceil(sum of input_fee_ppk / 1000)."""
    return (ppk_sum + 999) // 1000


def input_fee(proofs: Sequence[Proof], ppk: Mapping[str, int]) -> int:
    return fee_for(sum(ppk.get(p["id"], 0) for p in proofs))


def send_target(amount: int, ppk_active: int) -> int:
    """Smallest total t of fresh proofs (split into powers of two, each costing
    ``ppk_active``) that still covers ``amount`` after their own input fee."""
    total = amount
    for _ in range(MAX_ORDER):
        needed = amount + fee_for(len(split_amount(total)) * ppk_active)
        if needed <= total:
            return total
        total = needed
    return total  # pragma: no cover - converges in a few steps


def select_exact(
    proofs: Sequence[Proof], target: int, ppk: Mapping[str, int]
) -> list[Proof] | None:
    """Proofs S with sum(S) == target + fee(S), or None. Greedy largest first, which is
    exact for power-of-two denominations without fees and good enough with them."""
    chosen: list[Proof] = []
    total = 0
    ppk_sum = 0
    for proof in sorted(proofs, key=lambda p: p["amount"], reverse=True):
        new_ppk = ppk_sum + ppk.get(proof["id"], 0)
        if total + proof["amount"] <= target + fee_for(new_ppk):
            chosen.append(proof)
            total += proof["amount"]
            ppk_sum = new_ppk
            if total == target + fee_for(ppk_sum):
                return chosen
    return None


def select_covering(
    proofs: Sequence[Proof], target: int, ppk: Mapping[str, int]
) -> list[Proof] | None:
    """Few proofs S with sum(S) - fee(S) >= target (largest first: fewest inputs, lowest
    fees), then drop the smallest ones that are not needed. None when all proofs fall short."""
    chosen: list[Proof] = []
    total = 0
    ppk_sum = 0
    for proof in sorted(proofs, key=lambda p: p["amount"], reverse=True):
        if total - fee_for(ppk_sum) >= target:
            break
        chosen.append(proof)
        total += proof["amount"]
        ppk_sum += ppk.get(proof["id"], 0)
    if total - fee_for(ppk_sum) < target:
        return None
    for proof in sorted(chosen, key=lambda p: p["amount"]):
        rest_ppk = ppk_sum - ppk.get(proof["id"], 0)
        if total - proof["amount"] - fee_for(rest_ppk) >= target:
            chosen.remove(proof)
            total -= proof["amount"]
            ppk_sum = rest_ppk
    return chosen


def blank_outputs_count(fee_reserve: int) -> int:
    """NUT-08: max(ceil(log2(fee_reserve)), 1) blank outputs, none without a reserve."""
    if fee_reserve <= 0:
        return 0
    return max((fee_reserve - 1).bit_length(), 1)
