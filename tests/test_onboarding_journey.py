"""The onboarding journey in a real browser (Debian's chromium through Playwright), on a
phone-sized screen and driven by the keyboard on the service's own pages: landing page →
authorise at the (fake) Cloudflare → deploy progress (reloaded mid-way) → recovery phrase
with its confirmation → the connection URI on screen → nostr-sdk, an outside NWC client,
pays with that URI through relay → watcher → the uploaded Worker in the local Cloudflare
runtime (tests/onboarding_stack.py says how the deploy lands there).

Then: the service kept no token, root secret, seed, recovery phrase or connection secret
in its database, files or logs; the page's code hash is the one ``--print-hash`` prints;
and the failure paths: OAuth denied, the token expiring mid-deploy, the watcher down at
registration, a bucket name taken. Screenshots: build/screenshots/test_onboarding_journey/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import nostr_sdk as ns
import pytest
from playwright.sync_api import expect

from onboarding.settings import CF_SCOPES
from tests.browser import *  # noqa: F403 (the fixtures: browser, page, phone_page, shots)
from tests.browser import Shots, skip_reason, tab_to
from tests.e2e import connect, run, wait_for
from tests.nwc import remember_secret
from tests.onboarding_stack import World, cloudflare_runtime_missing, world

pytestmark = [pytest.mark.mint, pytest.mark.timeout(900)]
DEPLOY_MS = 240_000  # a whole deploy, the Worker's first start included
JOURNEY: dict[str, Any] = {}


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = skip_reason() or cloudflare_runtime_missing()
    if reason:
        pytest.skip(reason)
    with world(tmp_path_factory.mktemp("onboarding")) as made:
        yield made


def step(page: Any, key: str, status: str, timeout: float = DEPLOY_MS) -> None:
    page.wait_for_selector(f'li[data-key="{key}"][data-status="{status}"]', timeout=timeout)


def nwc(call: Callable[[], Any], timeout: float = 60) -> Any:
    """One nostr-sdk call, on a thread of its own (Playwright's sync API holds an event
    loop on this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: run(call(), timeout)).result()


def start_cloudflare(page: Any, w: World, name: str) -> None:
    """Landing → Cloudflare → name → Authorise, by keyboard only; ends on the consent page."""
    page.goto(w.url + "/")
    tab_to(page, 'a[href="/cloudflare"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Deploy to Cloudflare')")
    tab_to(page, "#name")
    page.keyboard.press("Control+A")
    page.keyboard.type(name)
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#allow")


def confirm_phrase(page: Any) -> str:
    page.wait_for_url("**/phrase", timeout=DEPLOY_MS)
    words = page.locator("#phrase .word").all_inner_texts()
    assert len(words) == 12
    labels = page.locator("label[for^=word_]").all_inner_texts()
    a, b = (int(text.rsplit(" ", 1)[1]) for text in labels)
    tab_to(page, "#word_a")
    page.keyboard.type(words[a - 1])
    tab_to(page, "#word_b")
    page.keyboard.type(words[b - 1])
    page.keyboard.press("Enter")
    page.wait_for_url("**/connect")
    return " ".join(words)


def test_journey_from_landing_page_to_a_payment(w: World, phone_page: Any, shots: Shots) -> None:
    page = phone_page
    page.goto(w.url + "/")
    shots.save(page, "01-landing-phone", docs=True)
    start_cloudflare(page, w, "nwc-signer")
    asked = w.oauth.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["scope"].split() == list(CF_SCOPES) and "offline_access" not in asked["scope"]
    shots.save(page, "02-consent-phone")
    w.fake.hold_on = r"PUT .*/scripts/nwc-signer/secrets$"  # catch the deploy mid-way
    page.click("#allow")

    page.wait_for_url("**/deploy/**")
    assert w.fake.held.wait(DEPLOY_MS / 1000), "the deploy never reached the secrets step"
    step(page, "secrets", "running")
    shots.save(page, "03-progress-phone", docs=True)
    page.reload()  # mid-deploy: the same job goes on, nothing is done twice
    step(page, "wallet", "done")
    step(page, "secrets", "running")
    w.fake.release.set()
    page.reload()
    phrase = confirm_phrase(page)
    shots.save(page, "05-connect-phone", docs=True)

    uri = page.input_value("#uri")
    assert uri.startswith("nostr+walletconnect://") and "secret=" in uri
    deep = page.get_attribute("#deeplink", "href") or ""
    assert deep == "nostrnwc://" + uri.split("://", 1)[1]
    assert page.locator("#qr svg").count() == 1
    tab_to(page, "#copy")
    page.keyboard.press("Enter")
    page.wait_for_selector("#copied:not(:empty)")
    code_hash = page.inner_text("#code-hash")
    assert code_hash.startswith("sha256:") and len(code_hash) == 71

    script = w.fake.scripts["nwc-signer"]
    assert script.uploads == 1 and len(w.fake.buckets) == 1 and len(w.fake.databases) == 1
    assert w.oauth.revoked == w.oauth.issued[-1:]  # revoked once the Worker was up
    assert w.fake.token != w.oauth.issued[-1]  # and Cloudflare refuses it now

    # an outside NWC client, given the URI, is paid into and pays
    _, client = connect(uri)
    ask = ns.MakeInvoiceRequest(
        amount=1_000_000, description="first", description_hash=None, expiry=None
    )
    made = nwc(lambda: client.make_invoice(ask))

    def funded() -> bool:
        look = ns.LookupInvoiceRequest(payment_hash=made.payment_hash, invoice=None)
        nwc(lambda: client.lookup_invoice(look))
        return bool(nwc(client.get_balance).balance >= 1_000_000)

    wait_for(funded, 120, "the wallet's first 1000 sats")
    quote = httpx.post(f"{w.mint_url}/v1/mint/quote/bolt11", json={"amount": 100, "unit": "sat"})
    pay = ns.PayInvoiceRequest(id=None, invoice=quote.json()["request"], amount=None)
    nwc(lambda: client.pay_invoice(pay), 90)  # settled inside the mint: no preimage
    assert nwc(client.get_balance).balance <= 1_000_000 - 100_000

    # the home page, opened with the admin connection the deploy made, shows that payment
    home = page.get_attribute("#home-link", "href") or ""
    assert home.startswith("/home/#connect=nostr%2Bwalletconnect%3A%2F%2F")
    admin_uri = unquote(home.split("#connect=", 1)[1])
    wallet_page = page.context.new_page()
    wallet_page.goto(w.url + home)
    # the page takes the URI out of the address bar and offers it for Connect
    wallet_page.wait_for_function("!location.hash.includes('connect')")
    expect(wallet_page.locator("#setup-uri")).to_have_value(admin_uri)
    tab_to(wallet_page, "#setup-connect")
    wallet_page.keyboard.press("Enter")
    wallet_page.wait_for_selector("#tx-rows tr[data-type=outgoing]", timeout=60_000)
    assert int(wallet_page.locator("#balance").get_attribute("data-msat") or -1) <= 900_000
    shots.save(wallet_page, "07-home-after-payment")
    wallet_page.close()

    tab_to(page, "#done")
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('All done')")
    shots.save(page, "06-done-phone")
    JOURNEY.update(uri=uri, phrase=phrase, hash=code_hash, root=script.secrets["ROOT_SECRET"],
                   admin=admin_uri)  # fmt: skip


def test_the_service_kept_no_secret(w: World) -> None:
    """After the journey: no token, root secret, seed, phrase or connection secret in the
    service's files (its SQLite database included) or in any log record of the run."""
    if not JOURNEY:
        pytest.skip("the journey did not finish")
    from mnemonic import Mnemonic

    connection_secret = JOURNEY["uri"].split("secret=")[1].split("&")[0]
    admin_secret = JOURNEY["admin"].split("secret=")[1].split("&")[0]
    seed = Mnemonic("english").to_seed(JOURNEY["phrase"]).hex()
    found = {
        "token": w.oauth.issued,
        "root secret": [JOURNEY["root"]],
        "seed": [seed],
        "recovery phrase": [JOURNEY["phrase"]],
        "connection secret": [connection_secret],
        "admin connection secret": [admin_secret],
    }
    for values in found.values():
        for value in values:
            remember_secret(value)  # the suite's own log check (test_zz) covers them too
    work = Path(w.settings.work_dir)
    files = [p for p in work.rglob("*") if p.is_file()]
    assert (work / "jobs.sqlite3") in files
    assert not [p for p in (work / "wallets").rglob("*")], "a wallet folder was left behind"
    logs = "\n".join(w.records.lines)
    assert "uvicorn" in logs or "onboarding" in logs, "the service's logs were captured"
    for what, values in found.items():
        for value in values:
            raw = value.encode()
            for path in files:
                data = path.read_bytes()
                assert (
                    raw not in data and bytes.fromhex(value) not in data
                    if what in ("root secret", "seed")
                    else raw not in data
                ), f"{what} in {path}"
            assert value not in logs, f"{what} in the logs"


def test_page_hash_is_what_print_hash_prints(
    w: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not JOURNEY:
        pytest.skip("the journey did not finish")
    from nwc_signer.cli import main

    assert main(["deploy", "cloudflare", "--print-hash", "--out", str(tmp_path / "cf")]) == 0
    assert capsys.readouterr().out.strip() == JOURNEY["hash"]


# --- failure paths ---------------------------------------------------------------------


def test_oauth_denied_says_so_and_makes_nothing(w: World, page: Any, shots: Shots) -> None:
    start_cloudflare(page, w, "nwc-denied")
    page.click("#deny")
    page.wait_for_selector("#error")
    assert "declined" in page.inner_text("#error")
    assert page.url.startswith(w.url + "/cloudflare")
    shots.save(page, "10-oauth-denied")
    assert "nwc-denied" not in w.fake.scripts and "nwc-denied-state" not in w.fake.buckets
    tab_to(page, "button[type=submit]")  # and the way on is one key away
    page.keyboard.press("Enter")
    page.wait_for_selector("#allow")


def test_token_expired_mid_deploy_then_watcher_down(w: World, page: Any, shots: Shots) -> None:
    """The token dies at the secrets step: "Authorise again" resumes there. Then the
    watcher is down at registration: "Try again" once it is back finishes the deploy."""
    from nwc_signer.dev.watcher import WatcherProcess
    from signer_core.crypto.secp import xonly_pubkey

    w.settings.watcher_pubkey = xonly_pubkey(w.watcher_key).hex()
    w.fake.expire_on = r"PUT .*/scripts/nwc-renewed/secrets$"
    folder, port = w.watcher.data_dir, w.watcher.port
    w.watcher.stop()
    issued = len(w.oauth.issued)
    start_cloudflare(page, w, "nwc-renewed")
    page.click("#allow")
    step(page, "secrets", "failed")
    page.wait_for_selector("#error")
    assert "Authorise again" in page.inner_text("#error")
    shots.save(page, "11-token-expired", docs=True)
    page.focus("#action")
    page.keyboard.press("Enter")
    page.click("#allow")
    step(page, "register", "failed")
    page.wait_for_selector("#error")
    text = page.inner_text("#error")
    assert "relay-watcher" in text and "Try this step again" in page.inner_text("#action")
    shots.save(page, "12-watcher-down")
    w.watcher = WatcherProcess(folder, folder / "watcher.key", port).start()
    page.focus("#action")
    page.keyboard.press("Enter")
    confirm_phrase(page)
    assert w.fake.scripts["nwc-renewed"].uploads == 1  # resumed, never re-deployed
    assert len(w.oauth.issued) == issued + 2 and w.oauth.revoked[-1] == w.oauth.issued[-1]
    assert set(w.fake.scripts["nwc-renewed"].secrets) == {"ROOT_SECRET", "WALLET_ID"}


def test_bucket_name_taken(w: World, page: Any, shots: Shots, tmp_path: Path) -> None:
    from functions.local.datadir import DataDir
    from nwc_signer.wallet import create_local_wallet

    create_local_wallet(tmp_path / "other", mint_url=w.mint_url, watcher_pubkey="ab" * 32)
    found = DataDir(tmp_path / "other").store().read()
    assert found is not None
    w.fake.buckets["nwc-taken-state"] = {"wallet.sealed": found[0]}
    start_cloudflare(page, w, "nwc-taken")
    page.click("#allow")
    step(page, "bucket", "failed")
    assert "taken" in page.inner_text("#error")
    shots.save(page, "13-bucket-taken")
    assert w.fake.buckets["nwc-taken-state"] == {"wallet.sealed": found[0]}  # untouched
    assert "nwc-taken" not in w.fake.scripts  # nothing uploaded, no secret overwritten
    tab_to(page, "#name")
    page.keyboard.type("nwc-taken-2")
    page.keyboard.press("Enter")
    step(page, "bucket", "done")
    confirm_phrase(page)
    assert "wallet.sealed" in w.fake.buckets["nwc-taken-2-state"]


def test_landing_on_a_desktop_screen(w: World, page: Any, shots: Shots) -> None:
    page.goto(w.url + "/")
    assert page.locator(".card").count() == 4  # Cloudflare, Deno, Vercel, AWS
    shots.save(page, "00-landing", docs=True)
    page.goto(w.url + "/deploy/not-a-job")
    assert "Start one from the first page" in page.inner_text("#error")
