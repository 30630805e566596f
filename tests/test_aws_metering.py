"""The Lambda entry point's metering hook: the pipeline hands every opened wallet to
`metering.wrap`, which records settled amounts for the EMF metrics (the pipeline only sees
encrypted events). Against a real Cashu wallet and the test mint."""

from __future__ import annotations

import pytest

from functions.aws_lambda import metering
from tests.conftest import JsonWallet

pytestmark = pytest.mark.mint


def test_wrapped_wallet_records_what_it_received_and_sent(mint_url: str, external_invoice) -> None:
    metering.drain()
    w = JsonWallet(mint_url)
    w.invoice(40)
    wallet = metering.wrap(w.open())  # what the pipeline does with each opened wallet
    try:
        assert [t.amount for t in wallet.sync().received] == [40_000]
        prepared = wallet.prepare_payment(
            invoice=external_invoice(12), amount_msat=None, request_id="metered"
        )
        assert wallet.send_payment(prepared).status == "settled"
        assert wallet.get_balance_msat() < 40_000  # the rest of the interface passes through
    finally:
        wallet.client.close()
    assert metering.drain() == ([12_000], [40_000])
    assert metering.drain() == ([], [])  # drained: the next delivery starts from zero
