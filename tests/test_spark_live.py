"""Live test against Spark regtest: runs only when its credentials are in the environment.

    SPARK_LIVE_MNEMONIC=<12 words of a regtest wallet holding >= 1000 sat> \
    SPARK_LIVE_PAYEE_MNEMONIC=<12 words of a second regtest wallet> \
    [BREEZ_API_KEY=<key>] ./scripts/test tests/test_spark_live.py

Fund the first wallet once from a regtest faucet (its Spark address is printed on failure).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from signer_core.wallets.base import WalletEnv
from signer_core.wallets.spark.wallet import SparkWallet
from tests.nwc import remember_secret

PAYER = os.environ.get("SPARK_LIVE_MNEMONIC", "")
PAYEE = os.environ.get("SPARK_LIVE_PAYEE_MNEMONIC", "")
pytestmark = pytest.mark.skipif(
    not (PAYER and PAYEE), reason="set SPARK_LIVE_MNEMONIC and SPARK_LIVE_PAYEE_MNEMONIC"
)


def _open(phrase: str, state: dict[str, Any] | None = None) -> SparkWallet:
    remember_secret(phrase)
    data = state or SparkWallet.create_data("regtest", mnemonic=phrase)
    env = WalletEnv(seed=b"", now=int(time.time()), http_timeout=30, mnemonic=phrase)
    return SparkWallet(json.loads(json.dumps(data)), env)


def test_live_regtest_round_trip() -> None:
    payer, payee = _open(PAYER), _open(PAYEE)
    payer.sync()
    balance = payer.get_balance_msat()
    assert balance >= 1_000_000, f"fund {payer.get_info()['spark_address']} on regtest first"
    tx = payee.make_invoice(amount_msat=100_000, description="nwc-signer live",
                            description_hash=None, expiry=600, metadata=None)  # fmt: skip
    request_id = os.urandom(32).hex()
    prepared = payer.prepare_payment(invoice=tx.invoice, amount_msat=None, request_id=request_id)
    outcome = payer.send_payment(prepared)
    deadline = time.time() + 60
    while outcome.status == "pending" and time.time() < deadline:
        time.sleep(3)
        outcome = payer.reconcile_payment(prepared) or outcome
    assert outcome.status == "settled" and outcome.preimage
    assert payer.send_payment(prepared).status == "settled"  # same key: no second payment
    received: list[Any] = []
    while not received and time.time() < deadline:
        payee.env.now = int(time.time())
        received = payee.sync().received
    assert [t.payment_hash for t in received] == [tx.payment_hash]
