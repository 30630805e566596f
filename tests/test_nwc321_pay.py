"""NWC-321 `pay` through the pipeline on the real nutshell mint, with a real LNURL-pay
server on loopback whose invoices a second real wallet on the same mint makes."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.local.datadir import DataDir
from signer_core.protocol.lnurl import CONFIG_ALLOW_LOOPBACK_HTTP
from tests import faults
from tests.faults import FlakyStore
from tests.lnurl_server import LnurlServer, encode_lnurl
from tests.nwc import App, LocalWallet
from tests.test_exactly_once import deliver_with

pytestmark = pytest.mark.mint


def allow_loopback(wallet: LocalWallet, allowed: bool = True) -> None:
    folder = DataDir(wallet.path)
    config = folder.config()
    config.wallet_config[CONFIG_ALLOW_LOOPBACK_HTTP] = allowed
    folder.save_config(config)


class Payee:
    def __init__(self, wallet: LocalWallet) -> None:
        self.wallet = wallet
        self.app = wallet.add_app(name="payee")

    def invoice(self, msat: int) -> str:
        return self.wallet.invoice(self.app, msat // 1000)

    def balance(self) -> int:
        self.wallet.wake()  # the mint's fake backend pays the quote when it is checked
        return int(self.wallet.call(self.app, "get_balance")["result"]["balance"])


@pytest.fixture
def payer(tmp_path: Path, mint_url: str) -> tuple[LocalWallet, App]:
    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    allow_loopback(wallet)
    app = wallet.add_app(name="payer")
    wallet.fund(app, 300)
    return wallet, app


@pytest.fixture
def payee(tmp_path: Path, mint_url: str) -> Payee:
    return Payee(LocalWallet.create(tmp_path / "payee", mint_url))


@pytest.fixture
def server(payee: Payee) -> Iterator[LnurlServer]:
    served = LnurlServer(payee.invoice)
    yield served
    served.close()


def balance(wallet: LocalWallet, app: App) -> int:
    return int(wallet.call(app, "get_balance")["result"]["balance"])


def pay(wallet: LocalWallet, app: App, **params: Any) -> dict[str, Any]:
    out = wallet.call(app, "pay", params)
    assert out["result_type"] == "pay"
    return out


def outgoing(wallet: LocalWallet, app: App) -> list[dict[str, Any]]:
    out = wallet.call(app, "list_transactions", {"type": "outgoing", "unpaid": True})
    return list(out["result"]["transactions"])


def assert_settled(result: dict[str, Any], amount: int, *, preimage: bool = True) -> None:
    """NWC-321's result. Paid through the mint's Lightning backend, the preimage is real;
    settled inside the same mint (a payee on it), the mint reveals none."""
    assert result["state"] == "settled" and result["instruction_type"] == "bolt11"
    assert result["amount"] == amount and result["fees_paid"] >= 0
    assert result["transaction_id"] == result["payment_hash"]
    if preimage:  # nutshell's fake backend hashes its preimage's hex text, not its bytes
        digest = hashlib.sha256(result["preimage"].encode()).hexdigest()
        assert digest == result["payment_hash"]
    else:
        assert "preimage" not in result
    assert result["settled_at"] >= result["created_at"] > 0


def test_pay_a_lightning_address_settles_once(payer, payee: Payee, server: LnurlServer) -> None:
    wallet, app = payer
    event = app.request("pay", {"payment": server.address, "amount": 21_000})
    first = wallet.deliver(event)
    assert first.status == 200, first.message
    paid = app.read(first.events[0])
    assert paid["error"] is None, paid
    assert_settled(paid["result"], 21_000)
    fees = paid["result"]["fees_paid"]
    sent = [app.read(e) for e in first.events if e["kind"] == 23197]
    assert [n["notification_type"] for n in sent] == ["payment_sent"]
    assert server.hits == ["/.well-known/lnurlp/alice", "/callback/alice"]
    assert balance(wallet, app) == 300_000 - 21_000 - fees
    looked = wallet.call(app, "lookup_invoice", {"payment_hash": paid["result"]["transaction_id"]})
    assert looked["result"]["state"] == "settled" and looked["result"]["type"] == "outgoing"
    assert payee.balance() == 21_000

    again = wallet.deliver(event, attempt=2)  # a re-delivery: the stored reply, nothing else
    assert again.events[0] == first.events[0]
    assert len(server.hits) == 2
    assert balance(wallet, app) == 300_000 - 21_000 - fees


def test_pay_an_lnurl_with_a_payer_note(payer, payee: Payee, server: LnurlServer) -> None:
    wallet, app = payer
    lnurl = encode_lnurl(f"http://127.0.0.1:{server.port}/.well-known/lnurlp/alice")
    paid = pay(wallet, app, payment=f"lightning:{lnurl.upper()}", amount=5_000, payer_note="hi")
    assert paid["error"] is None, paid
    assert_settled(paid["result"], 5_000)
    too_long = pay(wallet, app, payment=lnurl, amount=5_000, payer_note="x" * 51)
    assert too_long["error"]["code"] == "PAYMENT_FAILED", too_long


@pytest.mark.parametrize(
    "form",
    [
        "{inv}",
        "lightning:{inv}",
        "bitcoin:?lightning={inv}",
        "BITCOIN:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.00000030&lightning={inv}",
        "bitcoin:?lno=lno1qcp4256ypq&lightning={inv}&label=coffee",
    ],
)
def test_pay_bolt11_in_every_form(payer, payee: Payee, form: str) -> None:
    wallet, app = payer
    invoice = payee.invoice(30_000)
    paid = pay(wallet, app, payment=form.format(inv=invoice), max_fee=10_000)
    assert paid["error"] is None, paid
    assert_settled(paid["result"], 30_000, preimage=False)
    assert [t["amount"] for t in outgoing(wallet, app)] == [30_000]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "mode, amount, code, words",
    [
        ("down", 5_000, "PAYMENT_FAILED", "could not reach"),
        ("bad_json", 5_000, "PAYMENT_FAILED", "without valid JSON"),
        ("server_error", 5_000, "PAYMENT_FAILED", "the node is down"),
        ("ok", 500, "PAYMENT_FAILED", "accepts 1000 to 100000000 msat"),
        ("ok", 200_000_000, "PAYMENT_FAILED", "accepts 1000 to 100000000 msat"),
        ("wrong_hash", 5_000, "PAYMENT_FAILED", "does not commit to its metadata"),
        ("wrong_amount", 5_000, "PAYMENT_FAILED", "asks 6000 msat"),
    ],
)
def test_lnurl_failures_pay_nothing(
    payer, payee: Payee, server: LnurlServer, mode: str, amount: int, code: str, words: str
) -> None:
    wallet, app = payer
    server.mode = mode
    address = server.address if mode != "down" else f"alice@127.0.0.1:{closed_port()}"
    out = pay(wallet, app, payment=address, amount=amount)
    assert out["error"]["code"] == code, out
    assert words in out["error"]["message"]
    assert "nothing was paid" in out["error"]["message"]
    assert balance(wallet, app) == 300_000
    assert outgoing(wallet, app) == []
    if mode == "ok":
        assert server.hits == ["/.well-known/lnurlp/alice"]  # no invoice was even asked for


def test_loopback_lnurl_is_refused_unless_the_deployment_allows_it(
    payer, server: LnurlServer
) -> None:
    wallet, app = payer
    allow_loopback(wallet, False)
    out = pay(wallet, app, payment=server.address, amount=5_000)
    assert out["error"]["code"] == "PAYMENT_FAILED", out
    assert "not a public address" in out["error"]["message"]
    lnurl = encode_lnurl(f"http://127.0.0.1:{server.port}/.well-known/lnurlp/alice")
    out = pay(wallet, app, payment=lnurl, amount=5_000)
    assert "https" in out["error"]["message"], out
    assert server.hits == [] and balance(wallet, app) == 300_000


def test_max_fee_below_the_reserve_reserves_nothing(payer, payee: Payee, server) -> None:
    wallet, app = payer
    out = pay(wallet, app, payment=server.address, amount=10_000, max_fee=0)
    assert out["error"]["code"] == "FEE_LIMIT_EXCEEDED", out
    assert "nothing was paid" in out["error"]["message"]
    assert balance(wallet, app) == 300_000 and outgoing(wallet, app) == []
    # the inputs were released: the whole balance can still be spent
    everything = pay(wallet, app, payment=server.address, amount=290_000, max_fee=10_000)
    assert everything["error"] is None, everything
    assert balance(wallet, app) == 10_000 - everything["result"]["fees_paid"]


def test_budget_counts_pay_like_pay_invoice(tmp_path: Path, mint_url: str, server) -> None:
    wallet = LocalWallet.create(tmp_path / "capped", mint_url)
    allow_loopback(wallet)
    capped = wallet.add_app("--budget-sats", "30", name="capped")
    wallet.fund(capped, 100)
    refused = pay(wallet, capped, payment=server.address, amount=40_000)
    assert refused["error"]["code"] == "QUOTA_EXCEEDED", refused
    assert balance(wallet, capped) == 100_000
    paid = pay(wallet, capped, payment=server.address, amount=20_000)
    assert paid["error"] is None, paid
    used = wallet.call(capped, "get_budget")["result"]["used_budget"]
    assert used == 20_000 + paid["result"]["fees_paid"]
    again = pay(wallet, capped, payment=server.address, amount=9_000)
    assert again["error"]["code"] == "QUOTA_EXCEEDED", again


@pytest.mark.parametrize(
    "payment, code, words",
    [
        ("lno1qcp4256ypq", "UNSUPPORTED_PAYMENT_INSTRUCTION", "(cashu) cannot pay BOLT12"),
        ("bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.001",
         "UNSUPPORTED_PAYMENT_INSTRUCTION", "on-chain"),
        ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "UNSUPPORTED_PAYMENT_INSTRUCTION",
         "on-chain"),
        ("bitcoin:?lightning=lnbc1xyz&req-pop=callback%3A", "BAD_REQUEST", "req-pop"),
        ("bitcoin:?lightning=lnbc1xyz&req-frobnicate=1", "BAD_REQUEST", "'frobnicate'"),
        ("bitcoin:?amount=0.0000001x&lightning=lnbc1xyz", "BAD_REQUEST", "decimal bitcoin"),
        ("helloworld", "BAD_REQUEST", "not a BIP-321 URI"),
        ("hello world", "BAD_REQUEST", "characters a payment URI cannot hold"),
        ("lnbc1notaninvoice", "BAD_REQUEST", "invalid bolt11"),
        ("someone@localhost", "BAD_REQUEST", "not a lightning address"),
    ],
)  # fmt: skip
def test_what_cannot_be_paid_is_refused_clearly(payer, payment: str, code: str, words: str) -> None:
    wallet, app = payer
    out = pay(wallet, app, payment=payment)
    assert out["error"]["code"] == code, out
    assert words in out["error"]["message"], out


def test_conflicting_amounts_are_refused_before_payment(payer, payee: Payee) -> None:
    wallet, app = payer
    invoice = payee.invoice(30_000)
    out = pay(wallet, app, payment=invoice, amount=31_000)
    assert out["error"]["code"] == "BAD_REQUEST", out
    out = pay(wallet, app, payment=f"bitcoin:?amount=0.00000031&lightning={invoice}")
    assert out["error"]["code"] == "BAD_REQUEST", out
    out = pay(wallet, app, payment=f"bitcoin:?amount=0.00000030&lightning={invoice}", amount=1)
    assert out["error"]["code"] == "BAD_REQUEST", out
    out = pay(wallet, app, payment=invoice, payer_note="thanks")
    assert out["error"]["code"] == "BAD_REQUEST", out
    assert balance(wallet, app) == 300_000


def test_redelivery_after_the_claim_never_asks_the_server_again(
    payer, payee: Payee, server: LnurlServer
) -> None:
    wallet, app = payer
    event = app.request("pay", {"payment": server.address, "amount": 40_000})
    flaky = FlakyStore(wallet.function().store, 1, "after")  # the claim lands, then we die
    first = deliver_with(wallet, flaky, event)
    assert first.status == 503, first.message
    assert len(server.hits) == 2
    server.mode = "wrong_hash"  # a second invoice, if one were asked for, would be refused

    again = wallet.deliver(event, attempt=2)
    assert again.status == 200, again.message
    paid = app.read(again.events[0])
    assert paid["error"] is None, paid
    assert_settled(paid["result"], 40_000)
    assert len(server.hits) == 2
    assert [t["amount"] for t in outgoing(wallet, app)] == [40_000]
    assert app.read(wallet.deliver(event, attempt=3).events[0]) == paid
    assert payee.balance() == 40_000


@pytest.fixture
def lossy_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import signer_core.wallets

    faults.LoseMeltAnswer.armed = True
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", "tests.faults:lossy_cashu")


def test_a_wake_up_finishes_a_pay_in_flight_in_pay_shape(
    payer, server: LnurlServer, lossy_network: None
) -> None:
    wallet, app = payer
    event = app.request("pay", {"payment": server.address, "amount": 15_000})
    first = wallet.deliver(event)
    assert first.status == 409, first.message  # the mint's answer was lost: in flight
    woke = wallet.wake()
    assert woke.status == 200, woke.message
    [late] = [e for e in woke.events if e["kind"] == 23195]
    paid = app.read(late)
    assert paid["result_type"] == "pay" and paid["error"] is None, paid
    assert_settled(paid["result"], 15_000)
    assert len(server.hits) == 2
    assert app.read(wallet.deliver(event).events[0]) == paid
    assert [t["amount"] for t in outgoing(wallet, app)] == [15_000]


@pytest.mark.parametrize("mode", ["down", "fee"])
def test_a_refused_pay_stays_refused_when_redelivered(
    payer, server: LnurlServer, mode: str
) -> None:
    """The app was told the payment failed: a re-delivery of the same request must not pay
    once the server is back or fees have dropped (the refusal is stored, like a QUOTA one)."""
    wallet, app = payer
    if mode == "down":
        server.mode = "server_error"
        event = app.request("pay", {"payment": server.address, "amount": 8_000})
    else:
        event = app.request("pay", {"payment": server.address, "amount": 8_000, "max_fee": 0})
    first = wallet.deliver(event)
    refused = app.read(first.events[0])
    assert refused["error"] is not None, refused
    hits = len(server.hits)
    server.mode = "ok"
    if mode == "fee":
        server.hits.clear()
    again = wallet.deliver(event, attempt=2)
    assert app.read(again.events[0]) == refused
    assert len(server.hits) == (hits if mode == "down" else 0)
    assert balance(wallet, app) == 300_000 and outgoing(wallet, app) == []
