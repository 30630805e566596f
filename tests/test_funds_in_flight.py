"""Money reserved by a payment in flight is a reason to retry, not to refuse: a concurrent
payment that only the reserved proofs could cover is answered 409 (the watcher re-delivers)
and nothing is recorded; once the first payment finishes, the same request pays. Found by the
200-concurrent-payments proof, where 196 of 200 were refused INSUFFICIENT_BALANCE and the
refusal was stored for good."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import FundsInFlight, WalletEnv
from tests.conftest import JsonWallet
from tests.nwc import LocalWallet

pytestmark = pytest.mark.mint


def test_reserved_proofs_make_a_retry_and_a_true_shortfall_a_refusal(
    mint_url: str, external_invoice
) -> None:
    w = JsonWallet(mint_url)
    w.fund(100)
    w.prepare(external_invoice(10))  # its claim reserves the proofs it will swap and melt
    spendable = w.balance()
    assert spendable < 100
    with pytest.raises(FundsInFlight):
        w.prepare(external_invoice(spendable + 2))  # only the reserved proofs could pay it
    with pytest.raises(NwcError) as short:
        w.prepare(external_invoice(150))  # more than the wallet holds at all
    assert short.value.code == ErrorCode.INSUFFICIENT_BALANCE


class SwapUnreachableOnce(httpx.HTTPTransport):
    """The real mint, except that the first swap never reaches it (connection refused)."""

    armed = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if SwapUnreachableOnce.armed and request.url.path == "/v1/swap":
            SwapUnreachableOnce.armed = False
            raise httpx.ConnectError("injected: connection refused", request=request)
        return super().handle_request(request)


def swap_unreachable_cashu(data: dict[str, Any], env: WalletEnv) -> Any:
    from signer_core.wallets.cashu.wallet import CashuWallet

    return CashuWallet(data, env, transport=SwapUnreachableOnce())


@pytest.fixture
def first_swap_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import signer_core.wallets

    SwapUnreachableOnce.armed = True
    target = "tests.test_funds_in_flight:swap_unreachable_cashu"
    monkeypatch.setitem(signer_core.wallets.BACKENDS, "cashu", target)


def test_a_payment_waiting_on_reserved_funds_pays_after_the_first_finishes(
    tmp_path: Path, mint_url: str, external_invoice: Any, first_swap_fails: None
) -> None:
    wallet = LocalWallet.create(tmp_path / "payer", mint_url)
    app = wallet.add_app(name="payer")
    wallet.fund(app, 100)  # proofs 64 + 32 + 4: a 10-sat payment must swap the 32 or 64

    first = wallet.deliver(app.request("pay_invoice", {"invoice": external_invoice(10)}))
    assert first.status == 409, first.message  # claimed, swap not done: inputs reserved
    spendable = wallet.call(app, "get_balance")["result"]["balance"] // 1000
    assert spendable < 90
    second = app.request("pay_invoice", {"invoice": external_invoice(spendable + 2)})
    busy = wallet.deliver(second)
    assert (busy.status, busy.events) == (409, []), busy.message
    assert busy.retry_after and "reserved" in busy.message

    assert wallet.wake().status == 200  # the first payment is sent: its swap's change is back
    paid = wallet.deliver(second)  # the watcher's re-delivery of the same event
    assert paid.status == 200, paid.message
    answer = app.read(paid.events[0])
    assert answer["error"] is None, answer
