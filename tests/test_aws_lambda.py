"""The real Lambda handler on moto_server (a subprocess: S3, DynamoDB, Secrets Manager) with
the real nutshell mint: the webhook contract through Function URL events, the idempotency
filter, the S3 compare-and-swap under faults injected at botocore's own event hooks."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from functions.aws_lambda import handler as lambda_handler
from functions.aws_lambda.emulator import function_url_event
from nwc_signer.dev import aws as devaws
from signer_core.protocol.webhook import sign_delivery
from signer_core.vault.sealed import parse
from tests.log_guard import _handler as guard_handler
from tests.nwc import App, remember_secret

pytestmark = pytest.mark.mint


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("nwc-signer").addHandler(guard_handler)  # Powertools' own logger
    with devaws.moto_server() as url:
        yield url


class Wallet(devaws.LambdaWallet):
    """Registers every secret it sees for the suite's log check."""

    @classmethod
    def make(cls, endpoint: str, mint_url: str) -> Wallet:
        made = devaws.LambdaWallet.create(endpoint, mint_url)
        wallet = cls(made.stack, made.watcher_secret, made.mnemonic)
        remember_secret(wallet.mnemonic)
        remember_secret(wallet.watcher_secret)
        remember_secret(wallet.root_secret_hex())
        return wallet

    def add_app(self, name: str = "app", encryption: str | None = "nip44_v2", **opts) -> App:
        app = super().add_app(name, encryption, **opts)
        remember_secret(app.secret)
        return App(app.uri, app.secret, encryption)

    def blob(self) -> bytes:
        s3 = self.stack.client("s3")
        env = self.stack.env
        return s3.get_object(Bucket=env["STATE_BUCKET"], Key=env["STATE_KEY"])["Body"].read()

    def outgoing(self, app: App) -> list[int]:
        out = self.call(app, "list_transactions", {"type": "outgoing", "unpaid": True})
        return [t["amount"] for t in out["result"]["transactions"]]

    def balance(self, app: App) -> int:
        return int(self.call(app, "get_balance")["result"]["balance"])

    def warm_runtime(self, monkeypatch):
        for key, value in self.stack.env.items():
            monkeypatch.setenv(key, value)
        return lambda_handler.runtime()


@pytest.fixture
def wallet(endpoint: str, mint_url: str) -> Wallet:
    return Wallet.make(endpoint, mint_url)


@pytest.fixture
def funded(endpoint: str, mint_url: str) -> tuple[Wallet, App, Wallet, App]:
    payer = Wallet.make(endpoint, mint_url)
    app = payer.add_app(name="payer")
    payer.fund(app, 200)
    payee = Wallet.make(endpoint, mint_url)
    return payer, app, payee, payee.add_app(name="payee")


def test_requests_round_trip_and_fund(wallet: Wallet) -> None:
    app = wallet.add_app()
    assert wallet.call(app, "get_balance")["result"] == {"balance": 0}
    wallet.fund(app, 21)
    assert wallet.balance(app) == 21_000
    assert parse(wallet.blob()).generation > 2


def test_a_paid_invoice_replays_the_stored_reply(funded) -> None:
    payer, app, payee, payee_app = funded
    event = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 30)})
    first = payer.deliver(event)
    assert first.status == 200, first.message
    paid = app.read(first.events[0])
    assert paid["error"] is None, paid
    generation = parse(payer.blob()).generation
    again = payer.deliver(event, attempt=2)
    assert again.status == 200 and again.events == first.events  # the very same signed reply
    assert parse(payer.blob()).generation == generation  # answered by the filter: no write
    assert payer.outgoing(app) == [30_000]


def test_concurrent_duplicates_execute_once(funded, monkeypatch) -> None:
    payer, app, payee, payee_app = funded
    event = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 25)})
    payer.warm_runtime(monkeypatch)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(payer.deliver(event))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses[0] == 200 and set(statuses) <= {200, 409}, statuses
    busy = [r for r in results if r.status == 409]
    assert all(r.retry_after for r in busy)
    assert len({json.dumps(r.events) for r in results if r.status == 200}) == 1
    assert payer.outgoing(app) == [25_000]


@pytest.mark.parametrize(
    "fail_on, when", [(1, "before"), (1, "after"), (2, "before"), (2, "after")]
)
def test_an_s3_outage_mid_request_pays_exactly_once(funded, monkeypatch, fail_on, when) -> None:
    payer, app, payee, payee_app = funded
    event = app.request("pay_invoice", {"invoice": payee.invoice(payee_app, 40)})
    s3 = payer.warm_runtime(monkeypatch).s3
    puts = {"n": 0}

    def before(**kwargs) -> None:
        puts["n"] += 1
        if puts["n"] == fail_on and when == "before":
            raise EndpointConnectionError(endpoint_url="injected: S3 outage before the write")

    def after(**kwargs) -> None:
        if puts["n"] == fail_on and when == "after":
            raise EndpointConnectionError(endpoint_url="injected: answer lost after the write")

    s3.meta.events.register("before-call.s3.PutObject", before)
    s3.meta.events.register("after-call.s3.PutObject", after)
    try:
        first = payer.deliver(event)
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", before)
        s3.meta.events.unregister("after-call.s3.PutObject", after)
    assert first.status == 503 and first.retry_after, first.message
    again = payer.deliver(event, attempt=2)  # the watcher retries after the 5xx
    assert again.status == 200, again.message
    paid = app.read(again.events[0])
    assert paid["error"] is None, paid
    assert payer.outgoing(app) == [40_000]
    assert payer.balance(app) == 200_000 - 40_000 - paid["result"]["fees_paid"]
    assert payer.deliver(event, attempt=3).events == again.events
    assert payee.wake().status == 200
    assert payee.balance(payee_app) == 40_000


def _post_raw(wallet: Wallet, raw: bytes, headers: dict[str, str], **event_overrides) -> dict:
    event = function_url_event(
        "POST", "/", "", {"Content-Type": "application/json", **headers}, raw
    )
    event.update(event_overrides)
    return wallet.invoke(event)


def test_root_secret_missing_wrong_or_malformed_changes_nothing(
    wallet: Wallet, monkeypatch
) -> None:
    app = wallet.add_app()
    assert wallet.balance(app) == 0
    before = wallet.blob()
    sm = wallet.stack.client("secretsmanager")
    secret_id = wallet.stack.env["ROOT_SECRET_ID"]
    cases = [
        ({"ROOT_SECRET_ID": secret_id + "-missing"}, "ResourceNotFoundException"),
        ({"ROOT_SECRET_ID": "wrong-" + secret_id}, "does not match this wallet"),
        ({"ROOT_SECRET_ID": "short-" + secret_id}, "64 hex characters"),
    ]
    wrong = "ab" * 32
    remember_secret(wrong)
    sm.create_secret(Name="wrong-" + secret_id, SecretString=wrong)
    sm.create_secret(Name="short-" + secret_id, SecretString="not-hex")
    for env, expected in cases:
        broken = Wallet(
            devaws.Stack(wallet.stack.endpoint_url, {**wallet.stack.env, **env}),
            wallet.watcher_secret,
        )
        event = app.request("make_invoice", {"amount": 5000})
        response = broken.deliver(event)
        assert response.status == 500 and expected in response.message, response.message
        assert wallet.blob() == before
        ok = wallet.deliver(event)  # the fixed configuration answers the same event
        assert ok.status == 200, ok.message
        before = wallet.blob()


def test_malformed_function_url_events_get_4xx(wallet: Wallet) -> None:
    app = wallet.add_app()
    good = json.dumps({"type": "request", "event": app.request("get_balance")}).encode()
    signed = sign_delivery(good, wallet.watcher_secret, int(time.time()))
    for bad in ([], "x", {}, {"rawPath": "/"}, {"requestContext": {"http": {}}, "rawPath": "/"}):
        assert wallet.invoke(bad)["statusCode"] == 400
    assert _post_raw(wallet, good, signed, body=17)["statusCode"] == 400
    assert _post_raw(wallet, good, signed, isBase64Encoded="yes")["statusCode"] == 400
    assert _post_raw(wallet, good, signed, body="%%%", isBase64Encoded=True)["statusCode"] == 400
    assert _post_raw(wallet, good, signed, rawPath="/nope")["statusCode"] == 404
    assert (
        _post_raw(wallet, b"{", sign_delivery(b"{", wallet.watcher_secret, int(time.time())))[
            "statusCode"
        ]
        == 400
    )
    huge = b"x" * (300 * 1024)
    big = _post_raw(wallet, huge, sign_delivery(huge, wallet.watcher_secret, int(time.time())))
    assert big["statusCode"] == 413
    # a refused signature is not remembered by the idempotency filter
    assert _post_raw(wallet, good, {**signed, "x-nwc-signature": "00" * 64})["statusCode"] == 401
    ok = _post_raw(wallet, good, signed)
    assert ok["statusCode"] == 200
    # base64 bodies (what a Function URL sends for non-text content types) reach the
    # signature check byte for byte
    b64 = _post_raw(
        wallet, good, signed, body=base64.b64encode(good).decode(), isBase64Encoded=True
    )
    assert b64["statusCode"] == 200 and json.loads(b64["body"]) == json.loads(ok["body"])
    health = wallet.invoke(function_url_event("GET", "/health", "", {}, b""))
    assert health["statusCode"] == 200


def test_dev_lambda_runtime_over_http(tmp_path, endpoint, mint_url) -> None:
    """`nwc-signer dev --runtime lambda`'s function: a wallet folder mirrored into moto,
    the handler behind the Function-URL emulator, real HTTP."""
    import httpx

    from nwc_signer.dev.process import free_port
    from tests.nwc import LocalWallet

    local = LocalWallet.create(tmp_path / "w", mint_url)
    app = local.add_app()
    from nwc_signer.dev.runtimes import start_function_runtime

    with start_function_runtime("lambda", tmp_path / "w", free_port()) as url:
        late = local.add_app(name="late")  # added with the CLI while it runs
        for who in (app, late):
            body = json.dumps({"type": "request", "event": who.request("get_balance")}).encode()
            signed = sign_delivery(body, local.watcher_secret, int(time.time()))
            res = httpx.post(url, content=body, timeout=10, headers=signed)
            assert res.status_code == 200, res.text
            assert who.read(res.json()["events"][0])["result"] == {"balance": 0}
    assert local.call(app, "get_balance")["error"] is None  # the folder kept the newest state


def test_the_deploy_path_creates_a_wallet_in_the_stack(endpoint: str, mint_url: str) -> None:
    """`nwc-signer deploy aws stack` seals the wallet straight into the stack with AwsWallet
    (no local folder): it then answers through the real handler."""
    from functions.aws_lambda.admin import AwsWallet
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey
    from signer_core.stores.base import VersionConflict

    watcher = generate_private_key()
    stack = devaws.provision(
        endpoint, wallet_id="deployed", watcher_pubkey=xonly_pubkey(watcher).hex(),
        root_secret_hex=None,
    )  # fmt: skip
    admin = AwsWallet(stack.settings(), devaws._EndpointSession(stack))
    with pytest.raises(ValueError, match="mint URL"):
        admin.create("cashu", None)
    phrase = admin.create("cashu", mint_url)
    remember_secret(phrase)
    assert len(phrase.split()) in (12, 24)
    with pytest.raises(VersionConflict):  # a second create never overwrites the wallet
        admin.create("cashu", mint_url)
    wallet = Wallet(stack, watcher, phrase)
    remember_secret(watcher)
    remember_secret(wallet.root_secret_hex())
    app = wallet.add_app("phone")
    assert wallet.call(app, "get_balance")["result"] == {"balance": 0}


def test_one_invocation_verifies_parses_and_reads_settings_once(
    wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler checks the watcher's signature, parses the body and reads its settings
    from the environment once per invocation (they used to be done two or three times)."""
    from functions.aws_lambda.settings import Settings
    from signer_core.protocol import webhook

    app = wallet.add_app("once")
    wallet.call(app, "get_balance")  # warm: the runtime exists, as on a warm Lambda
    counts = {"verify": 0, "parse": 0, "settings": 0}
    real_from_env = Settings.from_env

    def verify(*args: Any) -> None:
        counts["verify"] += 1
        webhook.verify_delivery(*args)

    def parse(body: bytes) -> webhook.Delivery:
        counts["parse"] += 1
        return webhook.parse_delivery(body)

    def from_env(env: Any = None) -> Settings:
        counts["settings"] += 1
        return real_from_env(env)

    monkeypatch.setattr(lambda_handler, "verify_delivery", verify)
    monkeypatch.setattr(lambda_handler, "parse_delivery", parse)
    monkeypatch.setattr(Settings, "from_env", from_env)
    assert wallet.call(app, "get_balance")["result"] == {"balance": 0}
    assert counts == {"verify": 1, "parse": 1, "settings": 1}
