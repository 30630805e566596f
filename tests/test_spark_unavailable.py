"""A Spark wallet served where the Breez SDK cannot be imported (Cloudflare Python Workers:
Pyodide loads no native wheel), simulated on CPython by making ``import breez_sdk_spark``
fail. Every request gets a clear NIP-47 answer through the real pipeline (signed webhook ->
handle_webhook -> reply): get_info from the stored identity, everything else INTERNAL naming
the runtime and the design doc; never a 500 or a traceback, and the sealed state is left
byte for byte as it was. A payment claimed before the move stays claimed until a runtime
with the SDK can reconcile it."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import breez_sdk_spark as b
import pytest

from functions.local.datadir import DataDir
from nwc_signer.dev.harness import run_cli
from signer_core.wallets.spark.session import DESIGN_DOC, SparkUnavailable
from tests.nwc import App, LocalWallet, remember_secret
from tests.spark_double import FakeSpark, make_bolt11


@dataclass
class Served:
    local: LocalWallet
    app: App
    fake: FakeSpark

    def blob(self) -> bytes:
        found = DataDir(self.local.path).store().read()
        assert found is not None
        return found[0]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    """A regtest Spark wallet made by the CLI with the real SDK (offline), one connection,
    and the SDK double in place of connect() for the calls made while the SDK is present."""
    code, out, err = run_cli(
        "wallet", "create", "--data-dir", str(tmp_path / "w"), "--backend", "spark",
        "--network", "regtest", "--relay", "ws://127.0.0.1:1",
    )  # fmt: skip
    assert code == 0, err
    phrase = out.split("Recovery phrase")[1].splitlines()[1].strip()
    remember_secret(phrase)
    remember_secret((tmp_path / "w" / "secrets" / "root.key").read_text().strip())
    watcher = bytes.fromhex((tmp_path / "w" / "secrets" / "watcher.key").read_text().strip())
    remember_secret(watcher.hex())
    local = LocalWallet(tmp_path / "w", watcher, phrase)
    local.remember_keys()
    fake = FakeSpark()
    monkeypatch.setattr(b, "connect", fake.connect)
    return Served(local, local.add_app(), fake)


def hide_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on ``import breez_sdk_spark`` fails, as on Pyodide (undone after the test)."""
    monkeypatch.setitem(sys.modules, "breez_sdk_spark", None)


def assert_spark_unavailable(reply: dict[str, Any]) -> None:
    assert reply["result"] is None
    assert reply["error"]["code"] == "INTERNAL"
    message = reply["error"]["message"]
    assert message.startswith("Spark cannot run on this runtime")
    assert "Pyodide" in message and DESIGN_DOC in message


def test_every_request_gets_a_clear_answer_and_nothing_changes(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    local, app = served.local, served.app
    bolt11, payment_hash = make_bolt11(10_000)
    hide_sdk(monkeypatch)
    before = served.blob()

    info = local.call(app, "get_info")
    assert info["error"] is None
    assert info["result"]["network"] == "regtest"
    assert {"pay_invoice", "make_invoice", "get_balance", "get_info"} <= set(
        info["result"]["methods"]
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_balance", {}),
        ("make_invoice", {"amount": 21_000, "description": "tip"}),
        ("pay_invoice", {"invoice": bolt11}),
        ("lookup_invoice", {"payment_hash": payment_hash}),
        ("list_transactions", {}),
    ]
    for method, params in calls:
        reply = local.call(app, method, params)  # raises unless HTTP 200 with one reply
        assert reply["result_type"] == method
        assert_spark_unavailable(reply)
    woke = local.wake()
    assert woke.status == 200 and woke.wake_at is None  # no sync is tried, none is asked for

    assert served.blob() == before  # not even a ledger entry or a last_used_at
    assert served.fake.sends == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_claimed_payment_stays_claimed_until_the_sdk_is_back(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, app, fake = served.local, served.app, served.fake
    made = local.call(app, "make_invoice", {"amount": 50_000, "description": "in"})["result"]
    fake.pay_in(made["invoice"])
    assert local.wake().status == 200
    bolt11, _ = make_bolt11(10_000)
    fake.lose_send_answer = True
    event = app.request("pay_invoice", {"invoice": bolt11})
    assert local.deliver(event).status == 409  # outcome unknown: claimed
    fake.lose_send_answer = False

    hide_sdk(monkeypatch)  # the wallet moves to a runtime without the SDK
    before = served.blob()
    again = local.deliver(event, attempt=2)
    assert again.status == 409 and not again.events  # no stored error for an unknown outcome
    woke = local.wake()
    assert woke.status == 200 and woke.wake_at is not None  # look again later
    assert not [e for e in woke.events if e["kind"] == 23195]
    assert served.blob() == before

    monkeypatch.setitem(sys.modules, "breez_sdk_spark", b)  # back on CPython with the SDK
    last = local.deliver(event, attempt=3)
    reply = app.read([e for e in last.events if e["kind"] == 23195][0])
    assert reply["result"] == {"preimage": "cd" * 32, "fees_paid": 2000}
    assert fake.sends == 1  # reconciled by its idempotency key, never sent twice


def test_the_message_names_cloudflare_on_pyodide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "emscripten")
    message = SparkUnavailable().message
    assert "Cloudflare Python Workers / Pyodide" in message and DESIGN_DOC in message
