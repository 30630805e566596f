"""Crashes and lost answers, on the real mint: no payment is applied twice, nothing reserved
is released before the mint confirms, and state lost between a request and the state write
is recovered from the mint (NUT-07 checkstate + NUT-09 restore of our NUT-13 counters).

A "crash" is simulated by throwing away the state a call produced and going on from the
state that was durable before it (what the pipeline does when the function dies before its
compare-and-swap write)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from signer_core.protocol.errors import ErrorCode, NwcError
from tests.conftest import JsonWallet

pytestmark = pytest.mark.mint


class FlakyTransport(httpx.BaseTransport):
    """Real HTTP, except that requests to `path` fail: after the mint processed them
    ("after": the answer is lost) or before they leave ("before": connection refused)."""

    def __init__(self, path: str, when: str = "after", times: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.when, self.times = path, when, times
        self.hits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path and self.times > 0:
            self.times -= 1
            self.hits += 1
            if self.when == "before":
                raise httpx.ConnectError("injected: connection refused", request=request)
            response = self.inner.handle_request(request)
            response.read()
            response.close()
            raise httpx.ReadTimeout("injected: answer lost", request=request)
        return self.inner.handle_request(request)


class NoChangeInQuotes(httpx.BaseTransport):
    """Real HTTP; melt quote lookups come back without their NUT-08 change, as some mints
    answer: the wallet must restore the change from its blank outputs' counters."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.stripped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "GET" and request.url.path.startswith("/v1/melt/quote/"):
            body = json.loads(response.read())
            if body.pop("change", None):
                self.stripped += 1
            return httpx.Response(response.status_code, json=body)
        return response


def test_crash_before_the_melt_is_sent(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))  # durable: the claim is written with this state
    assert w.call("reconcile_payment", prepared) is None  # the mint never saw it: safe to send
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled"
    assert w.balance() == 50 - 20 - outcome.fees_paid_msat // 1000
    assert w.call("reconcile_payment", prepared) == outcome
    assert w.balance() == 50 - 20 - outcome.fees_paid_msat // 1000


def test_crash_after_the_melt_was_sent(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))
    durable = w.state
    outcome = w.call("send_payment", prepared)  # the mint pays ...
    truth = w.balance()
    w.state = durable  # ... and the function dies before writing the state

    assert w.balance() == 18  # stale view: the swap's reserved 32 sat input not yet spent
    again = w.call("reconcile_payment", prepared)
    assert again is not None and again.status == "settled"
    assert again.preimage == outcome.preimage and again.fees_paid_msat == outcome.fees_paid_msat
    assert w.balance() == truth == 50 - 20 - 1  # change recovered
    assert w.call("reconcile_payment", prepared) == again  # idempotent
    assert w.call("send_payment", prepared) == again
    assert w.balance() == truth
    tx = w.call("lookup_invoice", payment_hash=prepared.payment_hash)
    assert tx.state == "settled" and tx.fees_paid == outcome.fees_paid_msat


def test_change_is_restored_when_the_quote_does_not_carry_it(
    mint_url: str, external_invoice
) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))
    durable = w.state
    w.call("send_payment", prepared)
    w.state = durable  # crash before the state write, as above
    w.transport = NoChangeInQuotes()
    outcome = w.call("reconcile_payment", prepared)
    assert w.transport.stripped == 1
    assert outcome is not None and outcome.status == "settled" and outcome.fees_paid_msat == 1000
    assert w.balance() == 29


def test_lost_melt_answer_stays_pending_until_reconciled(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))
    w.transport = FlakyTransport("/v1/melt/bolt11")
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "pending" and w.transport.hits == 1
    reserved = [p for p in w.data["proofs"] if p.get("reserved") == prepared.reference]
    assert sum(p["amount"] for p in reserved) == 22  # nothing released
    assert w.call("needs_sync") is True
    w.transport = None
    settled = w.call("reconcile_payment", prepared)
    assert settled is not None and settled.status == "settled"
    assert w.balance() == 50 - 20 - settled.fees_paid_msat // 1000 == 29
    assert w.call("reconcile_payment", prepared) == settled
    assert w.call("needs_sync") is False


def test_sync_settles_a_payment_whose_answer_was_lost(mint_url: str, external_invoice) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))
    w.transport = FlakyTransport("/v1/melt/bolt11")
    assert w.call("send_payment", prepared).status == "pending"
    w.transport = None
    result = w.call("sync")
    assert result.wake_at is None and not w.call("needs_sync")
    assert w.balance() == 29
    outcome = w.call("reconcile_payment", prepared)  # the pipeline finds the stored outcome
    assert outcome is not None and outcome.status == "settled" and outcome.fees_paid_msat == 1000
    assert w.balance() == 29


def test_unreachable_mint_fails_fast_and_keeps_reservations(
    mint_url: str, external_invoice
) -> None:
    w = JsonWallet(mint_url)
    w.fund(50)
    prepared = w.prepare(external_invoice(20))
    w.transport = FlakyTransport("/v1/melt/bolt11", when="before")
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "pending"  # never release on a transport error
    assert w.balance() == 28
    w.transport = None
    assert w.call("reconcile_payment", prepared) is None  # it never arrived
    assert w.call("send_payment", prepared).status == "settled"
    assert w.balance() == 29

    dead = JsonWallet(f"http://127.0.0.1:{_dead_port()}")
    started = time.monotonic()
    with pytest.raises(NwcError) as err:
        dead.invoice(5)
    assert time.monotonic() - started < 3
    assert "unreachable" in err.value.message and err.value.code == ErrorCode.OTHER


def _dead_port() -> int:
    from nwc_signer.dev.process import free_port

    return free_port()


def test_lost_mint_answer_is_recovered_by_restore(mint_url: str) -> None:
    w = JsonWallet(mint_url)
    tx = w.invoice(37)
    w.transport = FlakyTransport("/v1/mint/bolt11")
    result = w.call("sync")
    assert result.received == [] and result.wake_at is not None
    assert w.balance() == 0 and w.call("needs_sync")
    quote = next(iter(w.data["mint_quotes"].values()))
    assert quote["outputs"]["amounts"] == [1, 4, 32]  # counters taken before the request
    w.transport = None
    received = w.call("sync").received  # same outputs again: "already signed" -> restore
    assert [t.payment_hash for t in received] == [tx.payment_hash]
    assert w.balance() == 37 and not w.call("needs_sync")


def test_crash_after_minting_before_the_state_write(mint_url: str) -> None:
    w = JsonWallet(mint_url)
    tx = w.invoice(12)
    durable = w.state
    assert [t.amount for t in w.call("sync").received] == [12_000]
    w.state = durable  # minted, but the state with the new proofs was never written
    received = w.call("sync").received  # the quote is ISSUED: heal restores our outputs
    assert [t.payment_hash for t in received] == [tx.payment_hash]
    assert w.balance() == 12
    # the counters moved past the recovered outputs: new outputs don't collide
    w.fund(3)
    assert w.balance() == 15


def test_stale_state_after_a_lost_payment_heals(mint_url: str, external_invoice) -> None:
    """A whole payment's state is lost (its swap spent our 64 sat proof), as when a
    concurrent writer wins the compare-and-swap and the request runs again on the old state."""
    w = JsonWallet(mint_url)
    w.fund(100)  # proofs 4 + 32 + 64
    durable = w.state
    w.pay(external_invoice(10))
    truth = w.balance()
    assert truth == 89
    w.state = durable

    # the next payment needs a swap of the (spent) 64 sat proof: the mint refuses, the
    # wallet drops it, restores the lost run's swap outputs and change, and selects again
    _, outcome = w.pay(external_invoice(60))
    assert outcome.status == "settled"
    assert w.balance() == truth - 61


def test_a_swap_that_never_reached_the_mint_is_sent_again(mint_url: str, external_invoice) -> None:
    """send's swap could not connect: pending, nothing released; the resume path finds the
    swap never happened (inputs unspent, its counters unsigned) and sends it again."""
    w = JsonWallet(mint_url)
    w.fund(100)
    prepared = w.prepare(external_invoice(10))
    w.transport = FlakyTransport("/v1/swap", when="before")
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "pending" and w.transport.hits == 1
    assert w.balance() == 36  # the 64 sat proof stays reserved until we know
    w.transport = None
    assert w.call("reconcile_payment", prepared) is None
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled" and w.balance() == 89


def test_change_counters_taken_by_a_lost_run_are_renewed(mint_url: str, external_invoice) -> None:
    """A run whose state was lost minted with the counters our prepared payment reserved
    for its change outputs: the melt is refused as "outputs already signed" before the
    inputs are touched; the wallet recovers that run's proofs and sends with new counters."""
    w = JsonWallet(mint_url)
    w.fund(32)
    durable = w.state
    prepared = w.prepare(
        external_invoice(30)
    )  # exactly 32 = 30 + 2: no swap, blanks at the next counter
    assert prepared.data["swap_fee"] == 0 and prepared.data["blank"]["start"] == 1
    lost = JsonWallet(mint_url, seed=w.seed, state=durable)
    lost.fund(5)  # counters 1 and 2, signed by the mint; this state is then lost
    outcome = w.call("send_payment", prepared)
    assert outcome.status == "settled" and outcome.fees_paid_msat == 1000, outcome
    assert w.balance() == 1 + 5  # 1 sat change, and the lost run's 5 sat found on the way
    assert w.data["payments_done"][prepared.reference]["status"] == "settled"


def test_a_keyset_the_mint_no_longer_accepts_is_dropped(mint_url: str, external_invoice) -> None:
    """As after a key rotation: our cached active keyset is refused for new outputs; the
    wallet reloads the keysets and mints / swaps with the mint's current one."""
    w = JsonWallet(mint_url)
    w.fund(10)
    data = w.data
    real = next(iter(data["keysets"]))
    retired = "01" + "00" * 32  # sorts first, so the wallet picks it for new outputs
    data["keysets"][retired] = {**data["keysets"][real]}
    w.state = json.dumps(data)

    tx = w.invoice(20)
    assert w.call("sync").received == []  # refused: "keyset id unknown", nothing signed
    assert w.data["keysets"][retired]["active"] is False
    assert [t.payment_hash for t in w.call("sync").received] == [tx.payment_hash]
    assert w.balance() == 30

    data = w.data
    data["keysets"][retired]["active"] = True  # and again, now in the swap of a payment
    w.state = json.dumps(data)
    _, outcome = w.pay(external_invoice(5))
    assert outcome.status == "settled" and w.balance() == 24


class QuotePendingOnce(httpx.BaseTransport):
    """Real HTTP, except that the first mint request is answered the way nutshell 0.20.2
    answers while another request is minting the same quote (`ledger.py`: TransactionError
    "Mint quote already pending.", code 11000, HTTP 400). Nothing is forwarded for it."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.answered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/mint/bolt11" and not self.answered:
            self.answered += 1
            body = {"detail": "Mint quote already pending.", "code": 11000}
            return httpx.Response(400, json=body, request=request)
        return self.inner.handle_request(request)


def test_a_quote_pending_at_the_mint_is_kept_not_dropped(mint_url: str) -> None:
    """Two wake-ups mint one quote at once: the loser hears "already pending" while the
    winner's outputs are not signed yet. The quote and its outputs must stay, so the next
    sync restores what the winner was given instead of writing the invoice off."""
    w = JsonWallet(mint_url)
    tx = w.invoice(21)
    racing = JsonWallet(mint_url, w.seed, state=w.state)  # the other run, same state
    w.transport = QuotePendingOnce()
    assert w.call("sync").received == []
    assert w.transport.answered == 1
    assert w.call("needs_sync"), "the pending quote was written off"
    assert [t.amount for t in racing.call("sync").received] == [21_000]  # the winner mints
    w.transport = None
    received = w.call("sync").received  # "already issued": restore the same outputs
    assert [t.payment_hash for t in received] == [tx.payment_hash]
    assert w.balance() == 21
