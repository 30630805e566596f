"""Backend error texts never reach a caller or a log (issue #9: a mint error carried 43 hex
digits of a proof secret into the NWC reply and the 409 "payment in flight" message).

The mint's refusals are injected at the httpx transport in front of the real mint (its own
texts never carry a secret); the Spark SDK's at the SDK double. Each refusal's text holds a
fake 64-hex secret, a base64 blob and an SQL fragment: none may appear in the NWC reply, the
webhook answer, an exception's text, or any log record (formatted or its raw fields)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import WalletEnv
from tests.conftest import JsonWallet
from tests.nwc import App, LocalWallet, remember_secret

SECRET = "5e" * 32  # the shape of a proof secret
BLOB = "c2VjcmV0LXByb29mLWJsb2ItdGhhdC1tdXN0LW5vdC1sZWFr"  # base64 of a "proof"
SQL = "UPDATE proofs_used SET"
NEEDLES = (SECRET, SECRET[:43], BLOB, SQL)
LEAKY = f"proof {SECRET} already spent ({BLOB}); {SQL} y = '{SECRET[:43]}'"
remember_secret(SECRET)  # the suite's last test searches every log record for it too


class RefusingMint(httpx.HTTPTransport):
    """The real mint, except that requests to the paths in `refuse` get the error given
    there instead (the request never reaches the mint)."""

    refuse: ClassVar[dict[str, tuple[int, dict[str, Any]]]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for path, (status, body) in RefusingMint.refuse.items():
            if request.url.path.startswith(path):
                return httpx.Response(status, json=body, request=request)
        return super().handle_request(request)


def refusing_cashu(data: dict[str, Any], env: WalletEnv) -> Any:
    from signer_core.wallets.cashu.wallet import CashuWallet

    return CashuWallet(data, env, transport=RefusingMint())


def leaks(*texts: Any) -> list[str]:
    """Needles found in what a caller sees: nothing of the backend's text may be there."""
    return [n[:8] for n in NEEDLES for t in texts if n in str(t)]


def log_leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Secret-shaped needles in any log record (a debug record may keep the backend's words,
    scrubbed of long hex and base64 runs)."""
    texts = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    return [n[:8] for n in (SECRET, SECRET[:43], BLOB) for t in texts if n in t]


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    import signer_core.wallets

    caplog.set_level(logging.DEBUG)
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", f"{__name__}:refusing_cashu")
    RefusingMint.refuse = {}
    yield RefusingMint.refuse
    RefusingMint.refuse = {}


@pytest.fixture
def funded(tmp_path: Path, mint_url: str) -> tuple[LocalWallet, App, str]:
    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    app = wallet.add_app(name="payer")
    wallet.fund(app, 100)
    payee = LocalWallet.create(tmp_path / "payee", mint_url)
    return wallet, app, payee.invoice(payee.add_app(name="payee"), 20)


@pytest.mark.mint
def test_a_refused_melt_quote_answers_a_clean_nwc_error(funded, refusals, caplog) -> None:
    wallet, app, invoice = funded
    refusals["/v1/melt/quote/bolt11"] = (400, {"detail": LEAKY, "code": 11001})
    reply = wallet.call(app, "pay_invoice", {"invoice": invoice})
    assert reply["error"]["code"] == "PAYMENT_FAILED", reply
    assert "code 11001" in reply["error"]["message"]
    assert leaks(json.dumps(reply)) == log_leaks(caplog) == []


@pytest.mark.mint
def test_a_refused_melt_with_an_unknown_state_gives_a_clean_409(funded, refusals, caplog) -> None:
    """The melt is refused and the quote cannot be read: "payment in flight", without the
    mint's words; once the mint answers again the payment goes through, once."""
    wallet, app, invoice = funded
    refusals["/v1/melt/bolt11"] = (400, {"detail": LEAKY, "code": 11001})
    refusals["/v1/melt/quote/bolt11/"] = (500, {"detail": LEAKY})
    event = app.request("pay_invoice", {"invoice": invoice})
    first = wallet.deliver(event)
    assert first.status == 409 and first.message.startswith("payment in flight"), first
    assert leaks(first.message, first.events) == log_leaks(caplog) == []

    refusals.clear()
    again = wallet.deliver(event, attempt=2)
    assert again.status == 200, again.message
    paid = app.read(again.events[0])
    assert paid["error"] is None, paid
    assert log_leaks(caplog) == []


@pytest.mark.mint
def test_a_refused_melt_answers_a_clean_payment_failed(funded, refusals, caplog) -> None:
    wallet, app, invoice = funded
    refusals["/v1/melt/bolt11"] = (400, {"detail": LEAKY, "code": 11001})
    reply = wallet.call(app, "pay_invoice", {"invoice": invoice})
    assert reply["error"] is not None and reply["error"]["code"] == "PAYMENT_FAILED", reply
    assert leaks(json.dumps(reply)) == log_leaks(caplog) == []


@pytest.mark.mint
def test_a_refused_mint_quote_and_sync_leave_no_trace(funded, refusals, caplog) -> None:
    wallet, app, _ = funded
    refusals["/v1/mint/quote/bolt11"] = (400, {"detail": LEAKY, "code": 20000})
    reply = wallet.call(app, "make_invoice", {"amount": 5000})
    assert reply["error"]["code"] == "OTHER" and "code 20000" in reply["error"]["message"]
    refusals.clear()
    assert wallet.call(app, "make_invoice", {"amount": 5000})["error"] is None
    refusals["/v1/mint/quote/bolt11/"] = (400, {"detail": LEAKY, "code": 20000})
    woke = wallet.wake()  # the sync meets the refusal and stops
    assert woke.status == 200
    assert leaks(json.dumps(reply), woke.message) == log_leaks(caplog) == []


@pytest.mark.mint
def test_exceptions_carry_the_clean_text_only(mint_url: str, external_invoice, caplog) -> None:
    from signer_core.wallets.cashu.client import CashuMintError, MintClient

    caplog.set_level(logging.DEBUG)
    w = JsonWallet(mint_url)
    w.fund(10)
    RefusingMint.refuse = {"/v1/melt/quote/bolt11": (400, {"detail": LEAKY, "code": 11001})}
    w.transport = RefusingMint()
    try:
        with pytest.raises(NwcError) as err:
            w.prepare(external_invoice(3))
        client = MintClient(mint_url, transport=RefusingMint())
        with pytest.raises(CashuMintError) as raw:
            client.melt_quote(external_invoice(3), "sat")
        client.close()
    finally:
        RefusingMint.refuse = {}
    assert err.value.code == ErrorCode.PAYMENT_FAILED
    assert raw.value.code == 11001 and "already spent" in str(raw.value)
    texts = (err.value, err.value.message, repr(err.value), raw.value, repr(raw.value))
    assert leaks(*texts, raw.value.args) == log_leaks(caplog) == []


def test_spark_sdk_error_texts_do_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    import breez_sdk_spark as sdk

    from tests.spark_double import FakeSpark, make_bolt11
    from tests.test_spark_wallet import Spark

    caplog.set_level(logging.DEBUG)
    fake = FakeSpark(balance=0)
    spark = Spark(fake)
    bolt11, _ = make_bolt11(1_000_000)
    for error in (
        sdk.SdkError.Generic(LEAKY),
        sdk.SdkError.StorageError(LEAKY),
        sdk.SdkError.InvalidInput(LEAKY),
        sdk.SdkError.SparkError(LEAKY),
        sdk.SdkError.NetworkError(f"connection refused: {LEAKY}"),
    ):
        fake.fail_with = error
        with pytest.raises(NwcError) as err:
            spark.prepare(bolt11)
        assert leaks(err.value, err.value.message, repr(err.value)) == [], type(error).__name__
        fake.fail_with = None
    assert log_leaks(caplog) == []
