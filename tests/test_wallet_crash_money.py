"""Money after a crash, on the real mint (issue #9): a state write lost after the mint acted
must not leave proofs the mint reports SPENT in the wallet (phantom balance, the next
payment refused as "proofs already spent"), and the fee reported and charged is what left
the wallet, never the fee reserve.

"Crash" = the state a call produced is thrown away and the run goes on from the state that
was durable before it, as the pipeline does when the function dies before its write."""

from __future__ import annotations

import pytest

from tests.conftest import JsonWallet

pytestmark = pytest.mark.mint


def truth(w: JsonWallet) -> int:
    """What the mint holds for this seed: a fresh wallet restored from it (NUT-09/13)."""
    fresh = JsonWallet(w.mint_url, seed=w.seed)
    fresh.call("restore")
    return fresh.balance()


def mint_states(w: JsonWallet) -> set[str]:
    """The mint's NUT-07 state of every proof the wallet holds."""
    wallet = w.open()
    try:
        return set(wallet.proof_states(wallet.state.proofs).values())
    finally:
        wallet.client.close()


def test_a_lost_write_after_a_melt_leaves_no_spent_proof_to_spend(
    mint_url: str, external_invoice
) -> None:
    """The whole run of a payment is lost (claim included, as when a concurrent writer wins):
    its input, a 32 sat proof, is spent at the mint but still in the stale state. The next
    payment of the same size selects exactly that proof."""
    w = JsonWallet(mint_url)
    w.fund(100)  # 4 + 32 + 64
    durable = w.state
    _, first = w.pay(external_invoice(30))  # 30 + 2 fee reserve: exactly the 32 sat proof
    assert first.status == "settled"
    w.state = durable

    _, second = w.pay(external_invoice(30))
    assert second.status == "settled", second
    assert w.balance() == truth(w) == 100 - 31 - 31
    assert mint_states(w) == {"UNSPENT"}


def test_a_lost_swap_leaves_no_spent_proof_to_spend(mint_url: str, external_invoice) -> None:
    """prepare swapped the 64 sat proof, then the function died before its claim was written:
    the stale state still holds the 64 sat proof, which a 62 sat payment selects exactly."""
    w = JsonWallet(mint_url)
    w.fund(100)
    durable = w.state
    w.prepare(external_invoice(10))  # swaps 64 -> outputs the lost run kept
    w.state = durable

    _, outcome = w.pay(external_invoice(62))
    assert outcome.status == "settled", outcome
    assert w.balance() == truth(w) == 100 - 62 - outcome.fees_paid_msat // 1000
    assert mint_states(w) == {"UNSPENT"}


def test_resuming_a_claimed_payment_drops_spent_proofs_before_counting(
    mint_url: str, external_invoice
) -> None:
    """A stale state (an earlier payment's write lost) goes on to claim and send a second
    payment, and that run dies too. The claimed-payment resume path (reconcile) must leave
    the wallet with exactly what the mint holds, and a further payment must go through."""
    w = JsonWallet(mint_url)
    w.fund(100)  # 4 + 32 + 64
    durable = w.state
    w.pay(external_invoice(30))  # spends the 32 sat proof; this run's write is lost
    w.state = durable
    prepared = w.prepare(external_invoice(2))  # exactly the 4 sat proof, still unspent
    claim = w.state
    assert w.call("send_payment", prepared).status == "settled"
    w.state = claim  # the mint paid, the state write is lost

    again = w.call("reconcile_payment", prepared)
    assert again is not None and again.status == "settled"
    assert w.balance() == truth(w) == 100 - 31 - 3
    assert mint_states(w) == {"UNSPENT"}
    _, last = w.pay(external_invoice(10))
    assert last.status == "settled", last
    assert w.balance() == truth(w)


@pytest.mark.parametrize("url_fixture", ["mint_url", "fee_mint_url"])
def test_the_fee_is_what_left_the_wallet_when_change_comes_back(
    request: pytest.FixtureRequest, url_fixture: str, mint_url: str
) -> None:
    """Every payment returns change (fee reserve 2 sat, the fake backend charges 1): the fee
    reported, recorded on the transaction and the balance drop agree to the msat."""
    url = request.getfixturevalue(url_fixture)
    payee_url = (
        mint_url if url_fixture == "fee_mint_url" else request.getfixturevalue("fee_mint_url")
    )
    from tests.conftest import mint_invoice

    w = JsonWallet(url)
    w.fund(200)
    for sats in (10, 7, 33, 64):
        before = w.balance()
        prepared, outcome = w.pay(mint_invoice(payee_url, sats))
        assert outcome.status == "settled", outcome
        spent_msat = (before - w.balance()) * 1000
        assert outcome.fees_paid_msat == spent_msat - sats * 1000
        tx = w.call("lookup_invoice", payment_hash=prepared.payment_hash)
        assert tx.fees_paid == outcome.fees_paid_msat
        assert outcome.fees_paid_msat < prepared.fee_reserve_msat  # change did come back
    assert w.balance() == truth(w)


def test_the_fee_stays_exact_when_the_change_outputs_were_renewed_and_the_write_lost(
    mint_url: str, external_invoice
) -> None:
    """The melt is refused "outputs already signed" (a lost run used our change counters),
    sent again with new change outputs, paid, and then the state write is lost: the resume
    path only knows the old change outputs. The mint returned 1 sat of the 2 sat reserve, so
    the fee is 1 sat, not the reserve, and the change is recovered."""
    w = JsonWallet(mint_url)
    w.fund(32)
    durable = w.state
    prepared = w.prepare(external_invoice(30))  # exactly 32: change outputs at counter 1
    claim = w.state
    JsonWallet(mint_url, seed=w.seed, state=durable).fund(5)  # signs counters 1 and 2
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled" and outcome.fees_paid_msat == 1000, outcome
    w.state = claim  # the renewed change outputs are lost with the write

    again = w.call("reconcile_payment", prepared)
    assert again is not None and again.status == "settled"
    assert again.fees_paid_msat == 1000, again
    tx = w.call("lookup_invoice", payment_hash=prepared.payment_hash)
    assert tx.fees_paid == 1000
    assert w.balance() == truth(w) == 1 + 5
