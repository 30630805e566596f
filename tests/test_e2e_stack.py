"""End to end over real websockets: nostr-sdk's NostrWalletConnect (the app) -> LocalRelay ->
relay-watcher process -> local function -> relay -> app, on the real test mint; and
`nwc-signer dev` itself, checked the moment it hands out its URI."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nostr_sdk as ns
import pytest

from nwc_signer.dev.mint import DevMint
from nwc_signer.dev.ready import NotServing, wait_until_serving
from nwc_signer.dev.relay import InProcessRelay
from nwc_signer.dev.watcher import WatcherProcess
from tests.e2e import (
    Listener,
    connect,
    dev_command,
    fetch,
    metric,
    register,
    run,
    served,
    share_watcher,
    start_watcher,
    wait_for,
)
from tests.nwc import App, LocalWallet

pytestmark = [pytest.mark.mint, pytest.mark.timeout(180)]


@dataclass
class Stack:
    relays: list[str]
    watcher: WatcherProcess
    payer: LocalWallet
    payer_uri: str
    payee: LocalWallet
    payee_uri: str


@pytest.fixture(scope="module", params=["local", "lambda", "cloudflare", "deno", "vercel"])
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The whole stack, with the function on the local runtime, on the real Lambda handler
    behind the Function-URL emulator and moto_server (`nwc-signer dev --runtime lambda`), or
    on the Worker in Pyodide over miniflare's R2 (`nwc-signer dev --runtime cloudflare`)."""
    tmp = tmp_path_factory.mktemp("e2e")
    with contextlib.ExitStack() as es:
        # a mint of its own: after funding, its fake backend stops paying incoming invoices
        # by itself, so the payee's invoice can only be paid by the payer (internal
        # settlement) — no race with the payee's scheduled wake-ups checking its quote
        mint = es.enter_context(DevMint())
        mint_url = mint.url
        r1 = es.enter_context(InProcessRelay())
        r2 = es.enter_context(InProcessRelay())
        relays = [r1.url, r2.url]
        payer = LocalWallet.create(tmp / "payer", mint_url)
        payee = LocalWallet.create(tmp / "payee", mint_url)
        share_watcher(payee, payer.watcher_secret)
        args = ["--relay", r1.url, "--relay", r2.url]
        payer_uri = payer.connection_uri(*args, name="app")
        payee_uri = payee.connection_uri("--relay", r1.url, name="app")
        payer.remember_keys()
        payee.remember_keys()
        watcher = es.enter_context(start_watcher(tmp / "watcher", payer.watcher_secret))
        runtime = request.param
        register(payer, watcher, es.enter_context(served(payer, runtime=runtime)), relays)
        # the payee stays on the local runtime: an emulated Lambda takes its configuration
        # from the process environment, as on AWS, so one process hosts one of them
        register(payee, watcher, es.enter_context(served(payee)), [r1.url])
        payer.fund(App.from_uri(payer_uri), 200)
        mint.restart({"FAKEWALLET_BRR": "false"})
        yield Stack(relays, watcher, payer, payer_uri, payee, payee_uri)


def test_get_info_and_get_balance(stack: Stack) -> None:
    _, nwc = connect(stack.payer_uri)
    info = run(nwc.get_info())
    assert "get_balance" in str(info.methods).lower()
    assert info.notifications == ["payment_received", "payment_sent"]
    assert run(nwc.get_balance()).balance == 200_000


def test_make_lookup_and_list(stack: Stack) -> None:
    _, nwc = connect(stack.payer_uri)
    req = ns.MakeInvoiceRequest(amount=21_000, description="e2e", description_hash=None,
                                expiry=None)  # fmt: skip
    made = run(nwc.make_invoice(req))
    assert made.invoice.startswith("ln") and made.amount == 21_000
    found = run(nwc.lookup_invoice(ns.LookupInvoiceRequest(payment_hash=made.payment_hash,
                                                          invoice=None)))  # fmt: skip
    assert found.invoice == made.invoice and found.amount == 21_000
    query = ns.ListTransactionsRequest(
        _from=None, until=None, limit=10, offset=None, unpaid=True, transaction_type=None
    )
    listed = run(nwc.list_transactions(query))
    assert made.payment_hash in [t.payment_hash for t in listed]


def test_pay_invoice_drops_balance_and_notifies_the_payee(stack: Stack) -> None:
    payer_app, payer = connect(stack.payer_uri)
    payee_app, payee = connect(stack.payee_uri)
    before = run(payer.get_balance()).balance
    flt = {"kinds": [23196, 23197], "#p": [payee_app.pubkey], "since": int(time.time()) - 5}
    with Listener(stack.relays[:1], flt) as notes:
        req = ns.MakeInvoiceRequest(amount=50_000, description=None, description_hash=None,
                                    expiry=None)  # fmt: skip
        invoice = run(payee.make_invoice(req)).invoice
        paid = run(payer.pay_invoice(ns.PayInvoiceRequest(id=None, invoice=invoice, amount=None)))
        after = run(payer.get_balance()).balance
        assert before - after == 50_000 + (paid.fees_paid or 0)
        # the payee's function asked for a wake-up (wake_at); the watcher's schedule runs it,
        # the function finds the paid quote and returns the notifications
        try:
            received = wait_for(lambda: [e for e in notes.events if e["kind"] == 23197], 60,
                                "the payment_received notification")  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.watcher.log_tail(60)}") from None
        note = payee_app.read(received[0])
        assert note["notification_type"] == "payment_received"
        assert note["notification"]["amount"] == 50_000
        # NIP-04 twin, when the connection advertises nip04 (its info event says so)
        info_tags = str(run(payee.get_info()))
        if "nip04" in info_tags:
            wait_for(lambda: [e for e in notes.events if e["kind"] == 23196], 10, "23196")
    assert run(payee.get_balance()).balance == 50_000


def test_unknown_client_gets_unauthorized(stack: Stack) -> None:
    app = App.from_uri(stack.payer_uri)
    secret = os.urandom(32).hex()
    uri = stack.payer_uri.split("secret=")[0] + "secret=" + secret
    stranger = ns.NostrWalletConnect(ns.NostrWalletConnectUri.parse(uri))
    with pytest.raises(Exception, match="(?i)unauthorized"):
        run(stranger.get_balance(), timeout=20)
    assert app.uri.service_pubkey in uri


def test_a_request_seen_on_two_relays_is_handled_once(stack: Stack) -> None:
    app = App.from_uri(stack.payer_uri)
    accepted = metric(stack.watcher, "nwc_watcher_events_total")
    dupes = metric(stack.watcher, "nwc_watcher_events_duplicate_total")
    # requests only: the payer's scheduled wake-ups (its unpaid invoice) are deliveries too
    delivered = metric(stack.watcher, "nwc_watcher_deliveries_total", kind="request")
    event: dict[str, Any] = dict(app.request("get_balance"))
    flt = {"kinds": [23195], "#e": [event["id"]]}
    with Listener(stack.relays, flt) as replies:  # one client, both relays
        replies.publish(event)
        wait_for(lambda: replies.events, 20, "the reply")
        wait_for(lambda: metric(stack.watcher, "nwc_watcher_events_duplicate_total") > dupes,
                 10, "the second copy")  # fmt: skip
    assert metric(stack.watcher, "nwc_watcher_events_total") == accepted + 1
    assert metric(stack.watcher, "nwc_watcher_deliveries_total", kind="request") == delivered + 1
    assert len({e["id"] for e in replies.events}) == 1
    assert app.read(replies.events[0])["result"]["balance"] >= 0


# -- `nwc-signer dev` as a new user runs it ---------------------------------------------------


@pytest.mark.parametrize(
    "runtime, backend",
    [
        *((r, "cashu") for r in ("local", "lambda", "cloudflare", "deno", "vercel")),
        ("local", "spark"),
    ],
)
def test_dev_prints_the_uri_only_once_an_app_is_served(
    tmp_path: Path, runtime: str, backend: str
) -> None:
    """The moment the URI line appears, the wallet's info event is on the relay and one
    request, sent once through the relay, is answered (an app given the URI at once)."""
    with dev_command(tmp_path / "dev", "--runtime", runtime, "--backend", backend) as dev:
        app = App.from_uri(dev.uri)
        service = app.uri.service_pubkey
        info = fetch([dev.relay], {"kinds": [13194], "authors": [service]})
        event = dict(app.request("get_info"))
        with Listener([dev.relay], {"kinds": [23195], "#e": [event["id"]]}) as replies:
            replies.publish(event)
            wait_for(lambda: replies.events, 30, "the answer to the first request")
        assert info, "no 13194 info event on the relay when the URI was printed"
        assert app.read(replies.events[0])["result"]["pubkey"] == service
        assert dev.proc.poll() is None


def test_a_wallet_registered_after_the_watcher_subscribed_is_served(
    tmp_path: Path, mint_url: str
) -> None:
    """The cause of the flaky pay test: the payee registered after the watcher's first REQ
    on the shared relay was never listened to there. Here the order is made certain."""
    first = LocalWallet.create(tmp_path / "first", mint_url)
    later = LocalWallet.create(tmp_path / "later", mint_url)
    share_watcher(later, first.watcher_secret)
    with contextlib.ExitStack() as es:
        relay = es.enter_context(InProcessRelay())
        first.connection_uri("--relay", relay.url)
        later_uri = later.connection_uri("--relay", relay.url)
        first.remember_keys()
        later.remember_keys()
        watcher = es.enter_context(start_watcher(tmp_path / "watcher", first.watcher_secret))
        register(first, watcher, es.enter_context(served(first)), [relay.url])
        # the watcher's first subscription on the relay is in place (it sets the gauge last)
        wait_for(lambda: metric(watcher, "nwc_watcher_relays") >= 1, 20, "the first REQ")
        register(later, watcher, es.enter_context(served(later)), [relay.url])
        try:
            seen = wait_until_serving(later_uri, timeout=30)
        except NotServing as exc:
            raise AssertionError(f"{exc}\n{watcher.log_tail(40)}") from None
        assert seen.answered and seen.info_event
