# ruff: noqa: F811  (the fixtures imported from tests.browser are test parameters)
"""The home page's "Approve an app" flow in real chromium against a real local stack (relay,
test mint, relay-watcher process, local function): an app's nostr+walletauth:// request
handed over in the address is approved and the page returns to the app, which then finds
its connection on the relay and uses it; an NWC-07 link pasted gets a URI for its callback
that an outside nostr-sdk client uses; a bad request says why and creates nothing."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import expect

from nwc_signer.dev.ready import wait_until_serving
from nwc_signer.dev.relay import InProcessRelay
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.uri import ConnectionUri, parse_uri
from tests.browser import Shots, browser, page, shots  # noqa: F401
from tests.e2e import connect, fetch, register, run, served, start_watcher, wait_for
from tests.nwc import LocalWallet, remember_secret
from tests.test_home_page import HOME, _skip_without_bundle, static_site

pytestmark = [pytest.mark.mint, pytest.mark.timeout(300)]
T = TypeVar("T")


@dataclass
class Stack:
    url: str
    admin_uri: str
    relay: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mint_url: str) -> Iterator[Stack]:
    _skip_without_bundle()
    tmp = tmp_path_factory.mktemp("home-approve")
    with contextlib.ExitStack() as es:
        relay = es.enter_context(InProcessRelay())
        wallet = LocalWallet.create(tmp / "wallet", mint_url)
        admin_uri = wallet.connection_uri("--admin", "--relay", relay.url, name="home")
        remember_secret(parse_uri(admin_uri).secret)
        wallet.remember_keys()
        watcher = es.enter_context(start_watcher(tmp / "watcher", wallet.watcher_secret))
        register(wallet, watcher, es.enter_context(served(wallet)), [relay.url])
        wait_until_serving(admin_uri, timeout=60)
        yield Stack(es.enter_context(static_site(HOME)), admin_uri, relay.url)


def off_loop(work: Callable[[], T]) -> T:
    """Run nostr-sdk work on a thread of its own (Playwright keeps an event loop here)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result(90)


def outside_balance(uri: str) -> int:
    """get_balance by nostr-sdk's own NWC client."""

    def ask() -> int:
        _, client = connect(uri)
        return int(run(client.get_balance()).balance)

    return off_loop(ask)


def connect_page(page: Any, stack: Stack, url: str) -> None:
    page.goto(url)
    page.fill("#setup-uri", stack.admin_uri)
    page.click("#setup-connect")
    page.wait_for_selector("#balance[data-msat]")


def test_walletauth_link_is_approved_and_returns_to_the_app(
    stack: Stack, page: Any, shots: Shots
) -> None:
    secret = generate_private_key()
    remember_secret(secret)
    app_pubkey = xonly_pubkey(secret).hex()
    back = stack.url + "back.html?from=wallet"
    request = (f"nostr+walletauth://{app_pubkey}?relay={quote(stack.relay, safe='')}"
               "&request_methods=get_balance%20make_invoice&name=Fragment%20Shop"
               "&max_amount=10000&budget_renewal=daily"
               f"&return_to={quote(back, safe='')}")  # fmt: skip
    connect_page(page, stack, stack.url + "#walletauth=" + quote(request, safe=""))
    # the request waited for the wallet to open, then is shown in plain words
    page.wait_for_selector("#approve-request:not([hidden])")
    expect(page.locator("#approve-name")).to_have_text("Fragment Shop")
    expect(page.locator("#approve-details")).to_contain_text("at most 10 sats per day")
    expect(page.locator("#approve-details")).to_contain_text("read your balance; create invoices")
    shots.save(page, "home-approve", docs=True)
    page.click("#approve-yes")
    # it came from the app: the page sends the user back with the new connection's key
    page.wait_for_url(re.compile(r"back\.html\?from=wallet&relay=.+&pubkey=[0-9a-f]{64}$"))
    service = parse_qs(urlsplit(page.url).query)["pubkey"][0]
    flt = {"kinds": [13194], "#p": [app_pubkey]}
    found = off_loop(lambda: wait_for(lambda: fetch([stack.relay], flt), 20, "the info event"))
    assert found[0]["pubkey"] == service
    uri = str(ConnectionUri(service, [stack.relay], secret.hex()))
    assert outside_balance(uri) == 0


def test_nwc07_link_pasted_and_a_bad_request(stack: Stack, page: Any) -> None:
    connect_page(page, stack, stack.url)
    page.wait_for_selector("#conn-list li")
    before = page.locator("#conn-list li").count()
    # a bad request: the reason, and nothing created
    page.fill("#approve-uri", "nostr+walletauth://abc?relay=wss%3A%2F%2Fr.example"
              "&request_methods=get_info")  # fmt: skip
    page.click("#approve-read")
    expect(page.locator("#error")).to_contain_text("cannot be approved")
    expect(page.locator("#approve")).to_have_attribute("data-error", "bad_pubkey")
    assert page.locator("#approve-request").is_hidden()
    # an NWC-07 link: the page makes the key pair and hands the URI to the callback
    page.fill("#approve-uri", "nostrnwc://connect?appname=Deep%20App"
              "&callback=https%3A%2F%2Fapp.example%2Fcb")  # fmt: skip
    page.click("#approve-read")
    page.wait_for_selector("#approve-budget-row:not([hidden])")
    assert page.locator("#error").is_hidden()
    page.fill("#approve-budget", "5")
    page.click("#approve-yes")
    expect(page.locator("#approve-connection")).to_have_value(
        re.compile("^nostr\\+walletconnect://")
    )
    uri = page.input_value("#approve-connection")
    remember_secret(parse_uri(uri).secret)
    expect(page.locator("#approve-return")).to_have_attribute(
        "href", "https://app.example/cb?value=" + quote(uri, safe="!*'()")
    )
    item = page.locator("#conn-list li", has_text="Deep App")
    item.wait_for()
    assert "0 of 5 sats used (monthly)" in item.text_content()
    assert page.locator("#conn-list li").count() == before + 1
    assert outside_balance(uri) == 0
    assert page.locator("#error").is_hidden(), page.text_content("#error")
