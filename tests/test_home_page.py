# ruff: noqa: F811  (the fixtures imported from tests.browser are test parameters)
"""The wallet's home page in real chromium (Playwright) against a real local stack: the dev
relay, the test mint, a relay-watcher process and the local function. A person's journey:
connect with the admin URI (keyboard only, password-sealed), see the balance, receive (the
invoice is shown and paid by the test mint; the page sees it paid), send to another wallet,
page through transactions, create a connection that an outside nostr-sdk client then uses,
and revoke it. Screenshots: build/screenshots/test_home_page/ (docs/screenshots/ with
NWC_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from nwc_signer.dev.ready import wait_until_serving
from nwc_signer.dev.relay import InProcessRelay
from nwc_signer.dev.watcher import WatcherProcess
from tests.browser import ROOT, Shots, browser, page, phone_page, shots, tab_to  # noqa: F401
from tests.e2e import connect, metric, register, run, served, start_watcher, wait_for
from tests.nwc import LocalWallet, remember_secret

pytestmark = [pytest.mark.mint, pytest.mark.timeout(300)]

HOME = ROOT / "onboarding" / "static" / "home"
BUILD_FAILED = HOME / ".bootstrap-failed"


def _skip_without_bundle() -> None:
    if BUILD_FAILED.exists():
        pytest.skip(f"the home page was not built (scripts/bootstrap.d/40-home-page.sh: "
                    f"{BUILD_FAILED.read_text().strip()})")  # fmt: skip
    if not (HOME / "dist" / "app.js").exists():
        pytest.skip("the home page is not built: run scripts/bootstrap.sh")


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """The page's folder over plain HTTP on loopback, as any static host would serve it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Stack:
    url: str
    admin_uri: str
    relay: str
    watcher: WatcherProcess
    payee: LocalWallet


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mint_url: str) -> Iterator[Stack]:
    _skip_without_bundle()
    tmp = tmp_path_factory.mktemp("home")
    with contextlib.ExitStack() as es:
        relay = es.enter_context(InProcessRelay())
        wallet = LocalWallet.create(tmp / "wallet", mint_url)
        admin_uri = wallet.connection_uri("--admin", "--relay", relay.url, name="home")
        remember_secret(admin_uri.split("secret=")[1].split("&")[0])
        wallet.remember_keys()
        payee = LocalWallet.create(tmp / "payee", mint_url)
        watcher = es.enter_context(start_watcher(tmp / "watcher", wallet.watcher_secret))
        register(wallet, watcher, es.enter_context(served(wallet)), [relay.url])
        wait_until_serving(admin_uri, timeout=60)  # its info event is on the relay
        url = es.enter_context(static_site(HOME))
        yield Stack(url, admin_uri, relay.url, watcher, payee)


def outside_balance(uri: str) -> int:
    """get_balance by nostr-sdk's own NWC client, on a thread of its own (Playwright's sync
    API keeps an event loop running on this one)."""

    def ask() -> int:
        _, client = connect(uri)
        return int(run(client.get_balance()).balance)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ask).result(60)


def balance(page: Any) -> int:
    return int(page.locator("#balance").get_attribute("data-msat") or -1)


def test_the_whole_journey(stack: Stack, page: Any, shots: Shots) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke confirmation
    page.goto(stack.url + "?page_size=1")
    # connect with the keyboard alone, sealing the URI under a password
    tab_to(page, "#setup-uri")
    page.keyboard.type(stack.admin_uri)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    shots.save(page, "home-setup", docs=True)
    tab_to(page, "#setup-connect")
    page.keyboard.press("Enter")
    expect(page.locator("#balance")).to_have_attribute("data-msat", "0")
    assert page.locator("#error").is_hidden()
    # the URI is kept in IndexedDB, sealed: neither the secret nor the URI in clear
    kept = page.evaluate("""() => new Promise((ok, no) => {
        const r = indexedDB.open('nwc-signer-home'); r.onerror = () => no(r.error);
        r.onsuccess = () => { const g = r.result.transaction('keys').objectStore('keys')
            .get('admin'); g.onsuccess = () => ok(JSON.stringify(g.result)); }; })""")
    secret = stack.admin_uri.split("secret=")[1].split("&")[0]
    assert '"sealed":true' in kept and secret not in kept and "walletconnect" not in kept

    # receive: the invoice and its QR code appear; the test mint pays it; the page sees it
    page.fill("#receive-amount", "100")
    page.fill("#receive-description", "coffee fund")
    page.click("#receive-create")
    page.wait_for_selector("#receive-qr[src^='data:image/png']")
    expect(page.locator("#receive-invoice")).to_have_value(re.compile("^ln"))
    page.wait_for_selector("#receive-state[data-state=settled]")
    expect(page.locator("#balance")).to_have_attribute("data-msat", "100000")
    shots.save(page, "home-wallet", docs=True)

    # send: an invoice of another wallet; the page shows its amount before paying
    invoice = stack.payee.invoice(stack.payee.add_app(), 21)
    page.fill("#send-invoice", invoice)
    expect(page.locator("#send-summary")).to_contain_text("21 sats")
    page.click("#send-pay")
    page.wait_for_selector("#send-result[data-state=settled]")
    expect(page.locator("#balance")).not_to_have_attribute("data-msat", "100000")
    assert 0 < balance(page) <= 79_000

    # transactions, newest first, one a page: the payment, then the receipt on page two
    page.wait_for_selector("#tx-rows tr[data-type=outgoing]")
    assert page.locator("#tx-rows tr").count() == 1
    page.click("#tx-next")
    expect(page.locator("#tx-page")).to_have_text("2")
    assert "coffee fund" in page.text_content("#tx-rows")
    page.click("#tx-prev")
    expect(page.locator("#tx-page")).to_have_text("1")

    # a new connection: URI and QR on screen; an outside nostr-sdk client uses it at once
    keys_before = metric(stack.watcher, "nwc_watcher_service_keys")
    page.click("#conn-new summary")
    page.fill("#conn-name", "shop")
    page.uncheck("input[value=make_invoice]")
    page.fill("#conn-budget", "50")
    page.select_option("#conn-renewal", "daily")
    page.select_option("#conn-expiry", "604800")
    page.click("#conn-create")
    page.wait_for_selector("#conn-qr[src^='data:image/png']")
    expect(page.locator("#conn-uri")).to_have_value(re.compile("^nostr\\+walletconnect://"))
    uri = page.input_value("#conn-uri")
    remember_secret(uri.split("secret=")[1].split("&")[0])
    assert uri.startswith("nostr+walletconnect://") and quote(stack.relay, safe="") in uri
    shots.save(page, "home-connection", docs=True)
    assert metric(stack.watcher, "nwc_watcher_service_keys") == keys_before + 1
    assert outside_balance(uri) == balance(page)
    item = page.locator("#conn-list li", has_text="shop")
    item.wait_for()
    assert "0 of 50 sats used (daily)" in item.text_content()

    # revoke it: gone from the list, and the watcher no longer serves its key
    item.get_by_role("button", name="Revoke shop").click()
    page.wait_for_selector("#conn-list li:has-text('shop')", state="detached")
    wait_for(lambda: metric(stack.watcher, "nwc_watcher_service_keys") == keys_before, 10,
             "the watcher to drop the revoked key")  # fmt: skip
    assert page.locator("#error").is_hidden(), page.text_content("#error")


def test_a_wrong_uri_and_a_wrong_password_say_what_to_do(stack: Stack, page: Any) -> None:
    page.goto(stack.url)
    page.fill("#setup-uri", "lnbc1notaconnection")
    page.click("#setup-connect")
    assert "must start with nostr+walletconnect://" in page.text_content("#error")
    page.fill("#setup-uri", stack.admin_uri)
    page.fill("#setup-password", "right")
    page.click("#setup-connect")
    page.wait_for_selector("#balance[data-msat]")
    page.reload()
    page.wait_for_selector("#unlock-password")
    page.fill("#unlock-password", "wrong")
    page.click("#unlock-button")
    page.wait_for_selector("#error:has-text('does not open this wallet')")
    page.fill("#unlock-password", "right")
    page.click("#unlock-button")
    page.wait_for_selector("#balance[data-msat]")


def test_on_a_phone_with_the_uri_handed_over(stack: Stack, phone_page: Any, shots: Shots) -> None:
    """The onboarding page hands the URI over in the fragment (never sent to a server)."""
    phone_page.goto(stack.url + "#connect=" + quote(stack.admin_uri, safe=""))
    # the page takes the URI out of the address bar and offers it (filled once its stored
    # state is read: wait for that, do not race it)
    phone_page.wait_for_function("!location.hash.includes('connect')")
    expect(phone_page.locator("#setup-uri")).to_have_value(stack.admin_uri)
    phone_page.click("#setup-connect")
    phone_page.wait_for_selector("#balance[data-msat]")
    phone_page.wait_for_selector("#conn-list li")
    # no password was set: there is nothing to lock
    assert phone_page.locator("#lock").is_hidden() and phone_page.locator("#forget").is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    wide = phone_page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 391).slice(0, 5)
        .map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px): {wide}"
    shots.save(phone_page, "home-phone", docs=True)
