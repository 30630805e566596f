"""Durability end to end: a watcher killed mid-delivery delivers after a restart what it had
accepted; with PyPI nostr-relay (a separate process that stores ephemeral events), old
requests come back on re-subscribe and are not paid again."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import nostr_sdk as ns
import pytest

from nwc_signer.dev.relay import InProcessRelay, NostrRelayProcess
from tests.conftest import mint_invoice
from tests.e2e import Listener, connect, metric, register, run, served, start_watcher, wait_for
from tests.nwc import App, LocalWallet

pytestmark = [pytest.mark.mint, pytest.mark.timeout(240)]


@contextlib.contextmanager
def gate(target: str) -> Iterator[tuple[str, list[bytes], threading.Event]]:
    """An HTTP hop in front of the function that holds each delivery until `open` is set
    (the watcher's registration challenge goes through at once: it is no delivery of work)."""
    seen: list[bytes] = []
    opened = threading.Event()

    class Hop(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if json.loads(body).get("type") != "challenge":  # registration passes at once
                seen.append(body)
                opened.wait(30)
            res = httpx.post(target, content=body, headers=dict(self.headers.items()), timeout=30)
            with contextlib.suppress(OSError):  # the watcher may be gone (killed)
                self.send_response(res.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(res.content)))
                self.end_headers()
                self.wfile.write(res.content)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen, opened
    finally:
        opened.set()
        server.shutdown()
        server.server_close()


def test_watcher_killed_mid_delivery_delivers_after_restart(tmp_path: Path, mint_url: str) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    with InProcessRelay() as relay, served(wallet) as fn, gate(fn) as (hop, seen, opened):
        uri = wallet.connection_uri("--relay", relay.url)
        wallet.remember_keys()
        app = App.from_uri(uri)
        watcher = start_watcher(tmp_path / "watcher", wallet.watcher_secret)
        try:
            register(wallet, watcher, hop, [relay.url])
            opened.set()  # let the first info wake-up through, then hold deliveries
            wait_for(lambda: seen, 20, "the first wake-up")
            opened.clear()
            held = len(seen)
            event = app.request("get_balance")
            with Listener([relay.url], {"kinds": [23195], "#e": [event["id"]]}) as replies:
                replies.publish(dict(event))
                wait_for(lambda: len(seen) > held and event["id"].encode() in seen[-1], 20,
                         "the delivery to reach the function")  # fmt: skip
                watcher.kill()  # mid-delivery: the function has not answered yet
                opened.set()
                assert replies.events == []
                # LocalRelay keeps no ephemeral events: only the watcher's queue has it now
                watcher.start()
                wait_for(lambda: replies.events, 30, "the reply after the restart")
            assert app.read(replies.events[0])["result"] == {"balance": 0}
            assert sum(event["id"].encode() in body for body in seen) == 2
        finally:
            watcher.stop()


def test_nostr_relay_process_old_requests_are_not_paid_again(tmp_path: Path, mint_url: str) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    with NostrRelayProcess(workdir=tmp_path / "relay") as relay, served(wallet) as fn:
        uri = wallet.connection_uri("--relay", relay.url)
        wallet.remember_keys()
        wallet.fund(App.from_uri(uri), 100)
        _, nwc = connect(uri)
        watcher = start_watcher(tmp_path / "watcher", wallet.watcher_secret)
        try:
            register(wallet, watcher, fn, [relay.url])
            invoice = mint_invoice(mint_url, 10)
            paid = run(nwc.pay_invoice(ns.PayInvoiceRequest(id=None, invoice=invoice, amount=None)))
            balance = run(nwc.get_balance()).balance
            assert balance == 100_000 - 10_000 - (paid.fees_paid or 0)
        finally:
            watcher.stop()
        # a new watcher (empty queue and de-dup table) re-subscribes: the relay sends the old
        # pay_invoice request again, the function answers from its ledger without paying
        again = start_watcher(tmp_path / "watcher2", wallet.watcher_secret)
        try:
            register(wallet, again, fn, [relay.url])
            wait_for(lambda: metric(again, "nwc_watcher_events_total") >= 2, 30,
                     "the old requests to come back")  # fmt: skip
            try:
                wait_for(lambda: metric(again, "nwc_watcher_queue_depth") == 0
                         and metric(again, "nwc_watcher_deliveries_total", kind="request") >= 2, 30,
                         "the re-deliveries")  # fmt: skip
            except AssertionError as exc:
                text = httpx.get(f"{again.url}/metrics").text
                raise AssertionError(
                    f"{exc}\n{again.log_tail()}\n"
                    + "\n".join(x for x in text.splitlines() if x.startswith("nwc_"))
                ) from None
            assert run(nwc.get_balance()).balance == balance
            listed = run(nwc.list_transactions(ns.ListTransactionsRequest(
                _from=None, until=None, limit=20, offset=None, unpaid=True,
                transaction_type=ns.TransactionType.OUTGOING)))  # fmt: skip
            assert len(listed) == 1
        finally:
            again.stop()
