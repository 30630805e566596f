"""NWC-321 on Spark, against the SDK double (tests/spark_double.py) through the pipeline.

The payment path is pay_invoice's on the same backend, so what is checked here is what is
specific to Spark: its `methods` lists pay/receive, the network check, BOLT12 refused by
name, max_fee against its Lightning fee, and the LNURL client on CPython's default
transport (Spark has none of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import breez_sdk_spark as b
import pytest

from signer_core.protocol import bip321
from signer_core.wallets.spark.wallet import SparkWallet
from tests.lnurl_server import LnurlServer
from tests.nwc import App, LocalWallet
from tests.spark_double import FakeSpark, make_bolt11
from tests.test_nwc321_pay import allow_loopback
from tests.test_spark_hooks import spark_wallet


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSpark:
    spark = FakeSpark()
    monkeypatch.setattr(b, "connect", spark.connect)
    assert {"pay", "receive"} <= SparkWallet.methods
    return spark


@pytest.fixture
def local(tmp_path: Path, fake: FakeSpark) -> LocalWallet:
    wallet = spark_wallet(tmp_path / "w", "ws://127.0.0.1:1")
    allow_loopback(wallet)
    return wallet


@pytest.fixture
def app(local: LocalWallet, fake: FakeSpark) -> App:
    app = local.add_app(name="app")
    made = local.call(app, "make_invoice", {"amount": 100_000})["result"]
    fake.pay_in(made["invoice"])
    local.wake()
    assert local.call(app, "get_balance")["result"]["balance"] == 100_000
    return app


@pytest.fixture
def server() -> Iterator[LnurlServer]:
    served = LnurlServer(lambda msat: make_bolt11(msat)[0])
    yield served
    served.close()


def test_pay_a_lightning_address_on_spark(local: LocalWallet, app: App, server, fake) -> None:
    event = app.request("pay", {"payment": server.address, "amount": 30_000, "max_fee": 5_000})
    first = local.deliver(event)
    paid = app.read(first.events[0])
    assert paid["error"] is None, paid
    result = paid["result"]
    assert result["state"] == "settled" and result["instruction_type"] == "bolt11"
    assert result["amount"] == 30_000 and result["fees_paid"] == fake.fee_sats * 1000
    assert result["transaction_id"] == result["payment_hash"]
    assert local.call(app, "get_balance")["result"]["balance"] == 70_000 - fake.fee_sats * 1000
    assert local.deliver(event, attempt=2).events[0] == first.events[0]
    assert len(server.hits) == 2


def test_spark_refuses_before_sending(local: LocalWallet, app: App, server, fake) -> None:
    over = local.call(app, "pay", {"payment": server.address, "amount": 30_000, "max_fee": 1})
    assert over["error"]["code"] == "FEE_LIMIT_EXCEEDED", over
    mainnet, _ = make_bolt11(10_000, network="bc")
    wrong = local.call(app, "pay", {"payment": f"bitcoin:?lightning={mainnet}"})
    assert wrong["error"]["code"] == "UNSUPPORTED_NETWORK", wrong
    assert "mainnet" in wrong["error"]["message"] and "regtest" in wrong["error"]["message"]
    offer = local.call(app, "pay", {"payment": "bitcoin:?lno=lno1qcp4256ypq"})
    assert offer["error"]["code"] == "UNSUPPORTED_PAYMENT_INSTRUCTION", offer
    assert "(spark) cannot pay BOLT12" in offer["error"]["message"]
    assert local.call(app, "get_balance")["result"]["balance"] == 100_000
    out = local.call(app, "list_transactions", {"type": "outgoing", "unpaid": True})
    assert out["result"]["transactions"] == []


def test_receive_on_spark(local: LocalWallet, app: App, fake: FakeSpark) -> None:
    out = local.call(app, "receive", {"amount": 12_000, "description": "tea"})
    assert out["error"] is None, out
    found = bip321.parse(out["result"]["bip321"])
    assert found.bolt11 is not None and found.bolt11.startswith("lnbcrt")
    fake.pay_in(found.bolt11)
    woke = local.wake()
    notes = [app.read(e) for e in woke.events if e["kind"] == 23197]
    assert [n["notification"]["payment_hash"] for n in notes] == [out["result"]["transaction_id"]]


def test_spark_info_advertises_its_extensions(local: LocalWallet, app: App) -> None:
    info = local.call(app, "get_info")["result"]
    assert info["extensions"] == ["02", "03", "05", "321"]  # no 06: metadata is not kept
