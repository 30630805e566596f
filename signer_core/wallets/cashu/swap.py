"""The swap (NUT-03) a payment needs when no exact selection of proofs exists.

``prepare`` only plans it: the inputs are reserved under the payment's reference and the
NUT-13 counters of its outputs are taken, in the state the claim commits. ``send`` does it,
after the claim is durable, so an attempt whose claim is lost leaves nothing at the mint.
Whatever happens after the claim (the answer lost, the function killed before its state
write, another run of the same claim) ``finish`` tells from the mint and the plan alone:
the outputs are deterministic, so restore (NUT-09) finds them if the swap went through, and
checkstate (NUT-07) says whether the inputs are still ours.

Plan layout (``payment["swap"]``)::

    {keyset_id, start, send: [amounts], keep: [amounts], fee, inputs: [secrets], done?}

Until ``done``, the plan's outputs belong to the payment: ``CashuCore.keep_unspent`` never
adds them as free proofs (heal's scan would otherwise count the ones about to be melted).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from signer_core.wallets.cashu.client import CashuProtocolError
from signer_core.wallets.cashu.core import CashuCore
from signer_core.wallets.cashu.state import Proof

log = logging.getLogger(__name__)

# what finish() found: the swap went through (applied now), never happened, is in progress
# at the mint, or cannot be ours (inputs spent without our outputs, or our counters signed
# while the inputs are unspent: a run whose state was lost used them)
Finished = Literal["done", "not_done", "pending", "stale"]


def unfinished(p: dict[str, Any]) -> bool:
    plan = p.get("swap")
    return isinstance(plan, dict) and not plan.get("done")


def amounts(plan: dict[str, Any]) -> list[int]:
    return [*plan["send"], *plan["keep"]]


def summary(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the ledger's claim records of the plan (no secrets)."""
    if not plan:
        return None
    return {"keyset_id": plan["keyset_id"], "start": plan["start"], "count": len(amounts(plan))}


def run(core: CashuCore, ref: str, p: dict[str, Any]) -> None:
    """POST the planned swap and apply its answer. Raises what the client raises."""
    plan = p["swap"]
    outputs = core.make_outputs(plan["keyset_id"], amounts(plan), plan["start"])
    inputs = core.state.reserved_by(ref)
    signatures = core.client.swap(core.wire(inputs), [o.blinded() for o in outputs])
    _apply(core, ref, p, core.to_proofs(outputs, signatures))


def finish(core: CashuCore, ref: str, p: dict[str, Any]) -> Finished:
    """Find out from the mint whether the planned swap went through; apply it if so."""
    if not unfinished(p):
        return "done"
    plan = p["swap"]
    inputs = core.state.reserved_by(ref)
    if {x["secret"] for x in inputs} != set(plan["inputs"]):
        return "stale"  # pragma: no cover - the state holds the plan's inputs until done
    states = core.proof_states(inputs)  # first: a swap completing meanwhile shows in restore
    try:
        found = _restored(core, plan)
    except ForeignOutputs:
        return "stale"
    if found is not None:
        if set(states.values()) != {"SPENT"}:
            states = core.proof_states(inputs)  # went through between the two calls?
        if set(states.values()) == {"SPENT"}:
            _apply(core, ref, p, found)
            return "done"
        return "stale"
    if "PENDING" in states.values():
        return "pending"
    if set(states.values()) == {"UNSPENT"}:
        return "not_done"
    return "stale"


def _restored(core: CashuCore, plan: dict[str, Any]) -> list[Proof] | None:
    """The plan's outputs as the mint signed them, all in order with the planned amounts;
    None when none is signed; ForeignOutputs when only some are, or other outputs are (our
    counters used by a run whose state was lost)."""
    wanted = amounts(plan)
    proofs, _ = core.restore_range(plan["keyset_id"], plan["start"], len(wanted))
    if not proofs:
        return None
    by_secret = {x["secret"]: x for x in proofs}
    outputs = core.make_outputs(plan["keyset_id"], wanted, plan["start"])
    ordered = [by_secret.get(o.secret) for o in outputs]
    if any(x is None or x["amount"] != o.amount for x, o in zip(ordered, outputs, strict=True)):
        raise ForeignOutputs("the swap's counters carry signatures that are not its outputs")
    return [x for x in ordered if x is not None]


class ForeignOutputs(CashuProtocolError):
    """The plan's counters were signed for other outputs (a run whose state was lost)."""


def _apply(core: CashuCore, ref: str, p: dict[str, Any], proofs: list[Proof]) -> None:
    """Replace the inputs by the swap's outputs: the send part reserved for the melt."""
    plan = p["swap"]
    if [x["amount"] for x in proofs] != amounts(plan):
        raise CashuProtocolError("the mint signed other amounts than the swap asked for")
    st = core.state
    st.remove_proofs(plan["inputs"])
    plan["done"] = True  # first: keep_unspent no longer holds these outputs back
    st.add_proofs(proofs)
    send = [x["secret"] for x in proofs[: len(plan["send"])]]
    st.reserve(send, ref)
    p["proofs"] = send
