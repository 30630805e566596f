"""The stack a client test runs on, as the checks see it: the wallet under test (driven
straight through the harness for set-up and checks), its payee, and what a client is."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from signer_core.protocol.bolt11 import decode
from tests.clients.outcome import Outcome
from tests.nwc import App, LocalWallet


class Client(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome: ...

    def subscribe(self, types: list[str]) -> None: ...

    def notifications(self) -> list[dict[str, Any]]: ...

    def service_info(self) -> dict[str, Any]: ...


class Payee(Protocol):
    """Someone the wallet pays: makes invoices, and says whether one was really paid."""

    def invoice(self, sats: int) -> str: ...

    def paid(self, invoice: str) -> bool: ...

    def pay_in(self, invoice: str) -> None:
        """Pay one of the wallet's own invoices from outside."""


@dataclass
class CashuPayee:
    """A second wallet on the same mint (the payer's melt settles inside the mint)."""

    wallet: LocalWallet
    app: App

    def invoice(self, sats: int) -> str:
        out = self.wallet.call(self.app, "make_invoice", {"amount": sats * 1000})
        return str(out["result"]["invoice"])

    def pay_in(self, invoice: str) -> None:
        out = self.wallet.call(self.app, "pay_invoice", {"invoice": invoice})
        assert out.get("error") is None, out

    def paid(self, invoice: str, timeout: float = 30) -> bool:
        """Wake the payee until its own lookup says the invoice is settled (bounded)."""
        payment_hash = decode(invoice).payment_hash
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.wallet.wake()
            out = self.wallet.call(self.app, "lookup_invoice", {"payment_hash": payment_hash})
            if out["result"]["state"] == "settled":
                return True
            time.sleep(0.2)
        return False


@dataclass
class SparkPayee:
    """A node behind the Spark SDK double: its invoices, paid once the operators record it."""

    fake: Any  # tests.spark_double.FakeSpark

    def invoice(self, sats: int) -> str:
        from tests.spark_double import make_bolt11

        return make_bolt11(sats * 1000, description="payee")[0]

    def pay_in(self, invoice: str) -> None:
        self.fake.pay_in(invoice)  # held by the provider until the wallet's next sync

    def paid(self, invoice: str) -> bool:
        payment_hash = decode(invoice).payment_hash
        return any(
            r["payment_hash"] == payment_hash and r["type"] == "SEND" and r["status"] == "COMPLETED"
            for r in self.fake.payments.values()
        )


@dataclass
class Stack:
    """The wallet under test (its admin connection `app`, with a budget) and a payee."""

    backend: str
    relays: list[str]
    payer: LocalWallet
    payer_uri: str
    app: App
    payee: Payee
    budget_sats: int
    lnurl: Any = None  # tests.lnurl_server.LnurlServer: the payee's lightning address
    spark: Any = None  # the FakeSpark double behind a Spark wallet

    def direct(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call straight to the payer's function (set-up and checks, not under test)."""
        out = self.payer.call(self.app, method, params)
        assert out.get("error") is None, f"harness {method}: {out['error']}"
        result: dict[str, Any] = out["result"]
        return result

    def balance(self) -> int:
        return int(self.direct("get_balance")["balance"])

    def payee_invoice(self, sats: int) -> str:
        return self.payee.invoice(sats)
