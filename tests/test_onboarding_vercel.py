"""The onboarding service's Vercel path in a real browser (Debian's chromium through
Playwright): on a phone-sized screen, keyboard only on the service's pages, landing →
Vercel → paste a token → deploy progress → recovery phrase → the connection URI → an
outside NWC client (nostr-sdk) gets answers from the deployed function: the uploaded files
served by the local Vercel runtime with the deployment's environment, over the Blob fake
the deploy wrote the state into (tests/onboarding_vercel_stack.py).

Then: the token was deleted through the API once the code was deployed; the service kept
no token, root secret, Blob token, seed, phrase or connection secret; and the failure
paths, each resumed to the end: the token expiring mid-deploy, the Blob store's name taken
by another project, the build failing. Screenshots: build/screenshots/test_onboarding_vercel/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nostr_sdk as ns
import pytest
from playwright.sync_api import expect

from tests.browser import *  # noqa: F403 (the fixtures: browser, page, phone_page, shots)
from tests.browser import Shots, skip_reason, tab_to
from tests.e2e import connect
from tests.nwc import remember_secret
from tests.onboarding_vercel_stack import VercelWorld, vercel_world
from tests.test_onboarding_journey import confirm_phrase, nwc, step

pytestmark = [pytest.mark.mint, pytest.mark.timeout(900)]
TOKEN = "vercel-onboarding-first"  # noqa: S105
JOURNEY: dict[str, Any] = {}


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VercelWorld]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with vercel_world(tmp_path_factory.mktemp("onboarding-vercel"), TOKEN) as made:
        yield made


def start_vercel(page: Any, w: VercelWorld, name: str, token: str) -> None:
    """Landing → Vercel → token and name → Deploy, by keyboard only; ends on the progress."""
    w.fake.token = token  # the token the user made in Vercel's dashboard
    remember_secret(token)
    page.goto(w.url + "/")
    tab_to(page, 'a[href="/vercel"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Deploy to Vercel')")
    tab_to(page, "#token")
    page.keyboard.type(token)
    tab_to(page, "#name")
    page.keyboard.press("Control+A")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_url("**/deploy/**")


def test_vercel_journey_on_a_phone(w: VercelWorld, phone_page: Any, shots: Shots) -> None:
    from deploy.vercel import bundle

    page = phone_page
    page.goto(w.url + "/")
    expect(page.locator(".card h2", has_text="Vercel")).to_be_visible()
    start_vercel(page, w, "nwc-vercel", TOKEN)
    step(page, "token", "done")
    shots.save(page, "20-vercel-progress-phone", docs=True)
    phrase = confirm_phrase(page)
    shots.save(page, "21-vercel-connect-phone", docs=True)
    expect(page.locator("#uri")).not_to_have_value("")
    uri = page.input_value("#uri")
    assert uri.startswith("nostr+walletconnect://") and "secret=" in uri
    code_hash = page.inner_text("#code-hash")
    # the hash `deploy vercel bundle --print-hash` prints for these files (rebuilt from the
    # service's build: other work may be changing this checkout meanwhile)
    built = Path(w.settings.work_dir) / "bundles" / "vercel"
    again = bundle.build(
        Path(w.settings.work_dir) / "check", source=built, core=built / "signer_core"
    )
    assert code_hash == again.digest
    assert "deploy vercel bundle --print-hash" in page.inner_text("main")

    project = w.fake.projects["nwc-vercel"]
    assert [d.state for d in project.deployments] == ["READY"]  # one deploy
    (store,) = [s for s in w.fake.stores.values() if s.name == "nwc-vercel-state"]
    assert store.access == "private" and [c["projectId"] for c in store.connections] == [project.id]
    types = {e.key: e.type for e in project.env}
    assert types["ROOT_SECRET"] == "sensitive" and types["WALLET_ID"] == "plain"
    assert w.fake.revoked == [TOKEN] and w.fake.token != TOKEN  # the token deleted itself

    # an outside NWC client, given the URI, is answered by the deployed function
    _, client = connect(uri)
    assert nwc(client.get_balance).balance == 0
    ask = ns.MakeInvoiceRequest(amount=21_000, description="v", description_hash=None, expiry=None)
    made = nwc(lambda: client.make_invoice(ask))
    assert made.invoice.startswith("lnbc")

    tab_to(page, "#done")
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('All done')")
    assert "deleted through Vercel's API" in page.inner_text("main")
    JOURNEY.update(uri=uri, phrase=phrase, root=project.env_value("ROOT_SECRET"),
                   blob=w.fake.blob.token)  # fmt: skip


def test_the_vercel_path_kept_no_secret(w: VercelWorld) -> None:
    """No token, root secret, Blob token, seed, phrase or connection secret in the service's
    files (its SQLite database included) or in any log record of the run."""
    if not JOURNEY:
        pytest.skip("the journey did not finish")
    from mnemonic import Mnemonic

    connection_secret = JOURNEY["uri"].split("secret=")[1].split("&")[0]
    seed = Mnemonic("english").to_seed(JOURNEY["phrase"]).hex()
    found = {
        "token": [TOKEN, *w.fake.revoked],
        "root secret": [JOURNEY["root"]],
        "Blob token": [JOURNEY["blob"]],
        "seed": [seed],
        "recovery phrase": [JOURNEY["phrase"]],
        "connection secret": [connection_secret],
    }
    for values in found.values():
        for value in values:
            remember_secret(value)
    work = Path(w.settings.work_dir)
    files = [p for p in work.rglob("*") if p.is_file()]
    assert (work / "jobs.sqlite3") in files
    assert not [p for p in (work / "wallets").rglob("*")], "a wallet folder was left behind"
    logs = "\n".join(w.records.lines)
    assert "onboarding" in logs or "uvicorn" in logs, "the service's logs were captured"
    for what, values in found.items():
        for value in values:
            for path in files:
                data = path.read_bytes()
                assert value.encode() not in data, f"{what} in {path}"
                if what in ("root secret", "seed"):
                    assert bytes.fromhex(value) not in data, f"{what} in {path}"
            assert value not in logs, f"{what} in the logs"


# --- failure paths: each one says what to do, and the deploy resumes to the end ----------


def test_token_expired_mid_deploy_resumes_with_a_new_one(
    w: VercelWorld, page: Any, shots: Shots
) -> None:
    w.fake.expire_on = r"POST /v1/storage/stores/blob$"
    start_vercel(page, w, "nwc-renewed", "vercel-onboarding-second")
    step(page, "store", "failed")
    page.wait_for_selector("#error")
    assert "no longer accepts this access token" in page.inner_text("#error")
    assert page.locator("label[for=token]").inner_text() == "A valid Vercel access token"
    shots.save(page, "22-vercel-token-expired", docs=True)
    w.fake.token = third = "vercel-onboarding-third"
    remember_secret(third)
    tab_to(page, "#token")
    page.keyboard.type(third)
    page.keyboard.press("Enter")
    confirm_phrase(page)
    project = w.fake.projects["nwc-renewed"]
    assert [d.state for d in project.deployments] == ["READY"]  # resumed, deployed once
    assert [s.name for s in w.fake.stores.values()].count("nwc-renewed-state") == 1
    assert w.fake.revoked[-1] == third and w.fake.token != third


def test_a_blob_store_name_taken_is_left_alone_and_a_new_name_continues(
    w: VercelWorld, page: Any, shots: Shots
) -> None:
    from tests.vercel_api import Store

    theirs = Store("store_theirs", "nwc-taken-state", "private", "iad1", "prj_someone")
    theirs.connections.append({"id": "spc_theirs", "projectId": "prj_someone",
                               "envVarEnvironments": ["production"]})  # fmt: skip
    w.fake.stores[theirs.id] = theirs
    start_vercel(page, w, "nwc-taken", "vercel-onboarding-fourth")
    step(page, "store", "failed")
    page.wait_for_selector("#error")
    text = page.inner_text("#error")
    assert "cannot be used" in text and "another project" in text and "untouched" in text
    shots.save(page, "23-vercel-store-taken")
    assert [c["projectId"] for c in theirs.connections] == ["prj_someone"]  # left alone
    tab_to(page, "#name")
    page.keyboard.type("nwc-taken-2")
    page.keyboard.press("Enter")
    confirm_phrase(page)
    (mine,) = [s for s in w.fake.stores.values() if s.name == "nwc-taken-2-state"]
    assert [c["projectId"] for c in mine.connections] == [w.fake.projects["nwc-taken-2"].id]
    assert [c["projectId"] for c in theirs.connections] == ["prj_someone"]


def test_a_failed_build_says_why_and_a_retry_deploys(
    w: VercelWorld, page: Any, shots: Shots
) -> None:
    w.fake.build_failure = ("BUILD_FAILED", "uv could not install breez-sdk-spark")
    start_vercel(page, w, "nwc-build", "vercel-onboarding-fifth")
    step(page, "deploy", "failed")
    page.wait_for_selector("#error")
    text = page.inner_text("#error")
    assert "could not build" in text and "uv could not install breez-sdk-spark" in text
    assert "Try this step again" in page.inner_text("#action")
    shots.save(page, "24-vercel-build-failed")
    assert w.fake.token == "vercel-onboarding-fifth"  # kept for the retry, not deleted yet
    w.fake.build_failure = None
    page.focus("#action")
    page.keyboard.press("Enter")
    confirm_phrase(page)
    states = [d.state for d in w.fake.projects["nwc-build"].deployments]
    assert states == ["ERROR", "READY"]
    assert w.fake.revoked[-1] == "vercel-onboarding-fifth"


def test_a_token_vercel_would_not_delete_is_named_on_the_page(w: VercelWorld, page: Any) -> None:
    """If the token's deletion fails the deploy still finishes, the service forgets the
    token, and the deploy step's line tells the user to delete it themselves."""
    import json
    import sqlite3

    w.fake.fail[r"DELETE /v3/user/tokens/current"] = (500, "An unexpected error occurred")
    try:
        start_vercel(page, w, "nwc-kept", "vercel-onboarding-sixth")
        confirm_phrase(page)
    finally:
        w.fake.fail.clear()
    assert w.fake.token == "vercel-onboarding-sixth"  # Vercel still takes it: say so
    db = sqlite3.connect(Path(w.settings.work_dir) / "jobs.sqlite3")
    try:
        records = [json.loads(r) for (r,) in db.execute("SELECT record FROM jobs")]
    finally:
        db.close()
    (job,) = [r for r in records if r["name"] == "nwc-kept"]
    (deploy,) = [s for s in job["steps"] if s["key"] == "deploy"]
    assert "could not be deleted: delete it at vercel.com/account/tokens" in deploy["detail"]
