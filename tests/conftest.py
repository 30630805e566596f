"""Shared fixtures: real nutshell mints (one per configuration per session) and helpers that
drive a CashuWallet the way the cold-start pipeline does (state through JSON between calls).

Mints are started lazily, only when a test asks for them; the first start installs nutshell
into .venv-mint (nwc_signer/dev/mint.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nwc_signer.dev.mint import DevMint
from signer_core.wallets.base import PreparedPayment, WalletEnv

with contextlib.suppress(ImportError):  # whole-suite log capture (test_zz_secrets_in_logs)
    from tests.log_guard import pytest_sessionstart  # noqa: F401


@pytest.fixture(scope="session")
def mint_url() -> Iterator[str]:
    """A mint without input fees; its fake Lightning backend pays an incoming invoice the
    first time its quote is checked and settles any outgoing one (1 sat fee)."""
    with DevMint(input_fee_ppk=0) as mint:
        yield mint.url


@pytest.fixture(scope="session")
def fee_mint_url() -> Iterator[str]:
    """The same with NUT-02 input fees (100 ppk: 1 sat per started 10 inputs)."""
    with DevMint(input_fee_ppk=100) as mint:
        yield mint.url


class JsonWallet:
    """A Cashu wallet whose state is sealed to JSON between calls: every call opens a new
    CashuWallet from json.loads(state) and writes json.dumps(data) back, like the pipeline."""

    def __init__(
        self,
        mint_url: str,
        seed: bytes | None = None,
        *,
        network: str = "regtest",
        state: str | None = None,
    ) -> None:
        from signer_core.wallets.cashu.wallet import CashuWallet

        self.mint_url = mint_url
        self.seed = seed if seed is not None else os.urandom(64)
        self.state = state or json.dumps(CashuWallet.create_data(mint_url, network=network))
        self.transport: Any = None
        self.now_offset = 0

    def open(self, **env: Any) -> Any:
        from signer_core.wallets.cashu.wallet import CashuWallet

        now = env.pop("now", int(time.time()) + self.now_offset)
        return CashuWallet(
            json.loads(self.state),
            WalletEnv(seed=self.seed, now=now, http_timeout=env.pop("http_timeout", 10.0)),
            transport=env.pop("transport", self.transport),
        )

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one wallet method on a fresh instance; the state is kept even when it raises."""
        wallet = self.open()
        try:
            return getattr(wallet, method)(*args, **kwargs)
        finally:
            self.state = json.dumps(wallet.data)
            wallet.client.close()

    @property
    def data(self) -> dict[str, Any]:
        return dict(json.loads(self.state))

    def balance(self) -> int:
        return int(self.call("get_balance_msat")) // 1000

    def invoice(self, sats: int, description: str | None = None) -> Any:
        return self.call(
            "make_invoice",
            amount_msat=sats * 1000,
            description=description,
            description_hash=None,
            expiry=None,
            metadata=None,
        )

    def fund(self, sats: int) -> Any:
        tx = self.invoice(sats)
        result = self.call("sync")
        received = [t for t in result.received if t.payment_hash == tx.payment_hash]
        assert received, f"the fake backend did not pay: {result}"
        return received[0]

    def prepare(self, invoice: str, amount_msat: int | None = None) -> PreparedPayment:
        prepared = self.call(
            "prepare_payment",
            invoice=invoice,
            amount_msat=amount_msat,
            request_id=os.urandom(8).hex(),
        )
        return PreparedPayment.from_dict(json.loads(json.dumps(prepared.to_dict())))

    def pay(self, invoice: str) -> Any:
        prepared = self.prepare(invoice)
        return prepared, self.call("send_payment", prepared)


def mint_invoice(mint_url: str, sats: int) -> str:
    """A fresh bolt11 from a mint quote nobody checks (so nobody marks it paid)."""
    import httpx

    res = httpx.post(
        f"{mint_url}/v1/mint/quote/bolt11", json={"amount": sats, "unit": "sat"}, timeout=10
    )
    res.raise_for_status()
    return str(res.json()["request"])


@pytest.fixture
def json_wallet() -> type[JsonWallet]:
    return JsonWallet


@pytest.fixture
def external_invoice(fee_mint_url: str) -> Any:
    """bolt11 invoices of another mint: paying them goes through the fake Lightning backend."""
    return lambda sats: mint_invoice(fee_mint_url, sats)
