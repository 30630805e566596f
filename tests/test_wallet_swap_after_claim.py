"""No mint-side effect before the payment's claim is durable (docs/reliability.md): prepare
only reads from the mint; the swap a payment needs (NUT-03) runs in send, after the claim,
and every loss after the claim is recovered from the claim alone, on the real mint.

"Kill" = the function dies at a mint request (``Killed`` is raised through the wallet) and
the run goes on from the state that was durable before it: the claim, as the pipeline wrote
it. Funding 100 sat gives the proofs 4 + 32 + 64; a 10 sat payment to another mint (2 sat
fee reserve, 1 sat charged) has no exact selection, so it swaps the 64 sat proof."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import JsonWallet

pytestmark = pytest.mark.mint


class Killed(BaseException):
    """The function dies here: nothing after this point runs, its state is never written."""


class KillAt(httpx.BaseTransport):
    """Real HTTP; the process dies at the first request to ``path``, before it leaves or
    after the mint answered it (the mint acted, nobody heard)."""

    def __init__(self, path: str, when: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.when, self.armed = path, when, True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.url.path == self.path:
            self.armed = False
            if self.when == "after":
                response = self.inner.handle_request(request)
                response.read()
                response.close()
            raise Killed(f"killed {self.when} {self.path}")
        return self.inner.handle_request(request)


class LoseAnswer(httpx.BaseTransport):
    """Real HTTP; the answer to the first request to ``path`` is lost after the mint acted."""

    def __init__(self, path: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.armed = path, True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.armed and request.url.path == self.path:
            self.armed = False
            response.read()
            response.close()
            raise httpx.ReadTimeout("injected: answer lost", request=request)
        return response


def truth(w: JsonWallet) -> int:
    """What the mint holds for this seed: a fresh wallet restored from it (NUT-09/13)."""
    fresh = JsonWallet(w.mint_url, seed=w.seed)
    fresh.call("restore")
    return fresh.balance()


def states_of(w: JsonWallet, spendable_only: bool = False) -> set[str]:
    """The mint's NUT-07 states of the proofs the wallet holds (or only of the spendable)."""
    wallet = w.open()
    try:
        proofs = wallet.state.spendable() if spendable_only else wallet.state.proofs
        return set(wallet.proof_states(proofs).values())
    finally:
        wallet.client.close()


def funded(mint_url: str) -> JsonWallet:
    w = JsonWallet(mint_url)
    w.fund(100)
    assert sorted(p["amount"] for p in w.data["proofs"]) == [4, 32, 64]
    return w


def test_a_claim_lost_right_after_prepare_leaves_the_mint_untouched(
    mint_url: str, external_invoice
) -> None:
    """prepare, then the claim loses its compare-and-swap: the prepared state is thrown
    away. Every proof is still UNSPENT at the mint and the balance is what it was."""
    w = funded(mint_url)
    durable = w.state
    prepared = w.prepare(external_invoice(10))
    w.state = durable  # VersionConflict: the claim never lands
    assert states_of(w) == {"UNSPENT"}  # the 64 sat proof it reserved too: nothing swapped
    assert prepared.data["swap"]["count"] > 0  # a swap was planned, not done
    assert w.balance() == 100 == truth(w)
    _, outcome = w.pay(external_invoice(10))
    assert outcome.status == "settled", outcome
    assert w.balance() == truth(w) == 100 - 10 - outcome.fees_paid_msat // 1000


def test_a_claim_that_loses_its_compare_and_swap_changed_nothing_at_the_mint(
    tmp_path: Path, mint_url: str
) -> None:
    """Through the pipeline: another request lands between this one's read and its claim.
    At that moment (the claim about to lose), the mint must not have seen any change."""
    from scripts.reliability.common import audit
    from tests.faults import FlakyStore
    from tests.nwc import LocalWallet
    from tests.test_exactly_once import deliver_with

    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    app, other = wallet.add_app(name="payer"), wallet.add_app(name="other")
    wallet.fund(app, 300)  # 4 + 8 + 32 + 256: 25 sat + reserve has no exact selection
    payee = LocalWallet.create(tmp_path / "payee", mint_url)
    invoice = payee.invoice(payee.add_app(name="payee"), 25)
    seen: list[object] = []

    def competing_write() -> None:
        seen.append(audit(wallet.path))  # the durable state, before the claim's write
        assert wallet.call(other, "get_balance")["error"] is None

    racy = FlakyStore(wallet.function().store, 1, "hook", hook=competing_write)
    response = deliver_with(wallet, racy, app.request("pay_invoice", {"invoice": invoice}))
    assert response.status == 200, response.message
    before_claim = seen[0]
    assert before_claim.spent == before_claim.pending == 0, before_claim  # type: ignore[attr-defined]
    assert before_claim.unspent == 300, before_claim  # type: ignore[attr-defined]
    after = audit(wallet.path)
    assert after.phantom == 0 and after.spent == 0, after
    assert after.outgoing == 1


def test_a_swap_whose_answer_is_lost_is_restored_from_its_counters(
    mint_url: str, external_invoice
) -> None:
    """send's swap went through at the mint but its answer was lost: the outputs are
    restored (NUT-09) from the counters the claim reserved, and the melt follows."""
    w = funded(mint_url)
    prepared = w.prepare(external_invoice(10))
    w.transport = LoseAnswer("/v1/swap")
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled", outcome
    assert outcome.fees_paid_msat == 1000
    w.transport = None
    assert w.balance() == truth(w) == 100 - 10 - 1
    assert states_of(w) == {"UNSPENT"}


def test_a_kill_between_swap_and_melt_recovers_from_the_claim(
    mint_url: str, external_invoice
) -> None:
    w = funded(mint_url)
    prepared = w.prepare(external_invoice(10))
    claim = w.state
    w.transport = KillAt("/v1/melt/bolt11", "before")
    with pytest.raises(Killed):
        w.call("send_payment", prepared)
    w.transport, w.state = None, claim  # the swap happened at the mint; nothing was written

    assert states_of(w, spendable_only=True) == {"UNSPENT"}  # the balance counts no spent proof
    assert w.balance() == 36  # the swapped 64 sat proof stays reserved by the claim
    w.call("heal")  # a heal meanwhile (another request) must not free the swap's outputs
    assert w.balance() == 36
    assert w.call("reconcile_payment", prepared) is None  # the melt never happened: send
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled" and outcome.fees_paid_msat == 1000, outcome
    assert w.balance() == truth(w) == 100 - 10 - 1
    assert states_of(w) == {"UNSPENT"}


def test_a_second_run_of_the_same_claim_finds_the_swap_done(
    mint_url: str, external_invoice
) -> None:
    """A concurrent (or later) run of the same claim sends again: the mint refuses the
    swap it already did, and the wallet takes the outputs it was given then."""
    w = funded(mint_url)
    prepared = w.prepare(external_invoice(10))
    claim = w.state
    w.transport = KillAt("/v1/melt/bolt11", "before")
    with pytest.raises(Killed):
        w.call("send_payment", prepared)
    w.transport, w.state = None, claim

    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled" and outcome.fees_paid_msat == 1000, outcome
    assert w.balance() == truth(w) == 100 - 10 - 1
    assert states_of(w) == {"UNSPENT"}


def test_a_kill_between_melt_and_the_state_write_recovers_from_the_claim(
    mint_url: str, external_invoice
) -> None:
    w = funded(mint_url)
    prepared = w.prepare(external_invoice(10))
    claim = w.state
    w.transport = KillAt("/v1/melt/bolt11", "after")
    with pytest.raises(Killed):
        w.call("send_payment", prepared)
    w.transport, w.state = None, claim  # swapped and paid at the mint; nothing was written

    assert states_of(w, spendable_only=True) == {"UNSPENT"}
    outcome = w.call("reconcile_payment", prepared)
    assert outcome is not None and outcome.status == "settled", outcome
    assert outcome.fees_paid_msat == 1000  # inputs + swap fee - change, not the reserve
    assert w.balance() == truth(w) == 100 - 10 - 1
    assert states_of(w) == {"UNSPENT"}
    tx = w.call("lookup_invoice", payment_hash=prepared.payment_hash)
    assert tx.state == "settled" and tx.fees_paid == 1000
    assert w.call("reconcile_payment", prepared) == outcome  # once


def test_a_cancelled_payment_with_a_planned_swap_left_nothing_at_the_mint(
    mint_url: str, external_invoice
) -> None:
    """The budget refused it after prepare: released, and the mint never saw the swap."""
    w = funded(mint_url)
    prepared = w.prepare(external_invoice(10))
    w.call("cancel_payment", prepared)
    assert w.balance() == 100 == truth(w)
    assert states_of(w) == {"UNSPENT"}
    assert w.data["payments"] == {}
