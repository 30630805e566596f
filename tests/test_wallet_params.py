"""NIP-47 params: JSON null for an optional param means "absent", for every method (issue #9:
list_transactions refused offset/unpaid null while it took from/type null)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from signer_core.methods import MethodContext
from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.protocol.models import (
    ListTransactionsParams,
    LookupInvoiceParams,
    MakeInvoiceParams,
    PayInvoiceParams,
    parse_params,
)
from signer_core.state import Connection, WalletState
from signer_core.wallets.base import WalletEnv

INVOICE = "lnbc10n1" + "q" * 40  # only its length is checked by the params model
HASH = "ab" * 32

# method -> (its params model, the required params, every optional param)
CASES: dict[str, tuple[Any, dict[str, Any], list[str]]] = {
    "pay_invoice": (PayInvoiceParams, {"invoice": INVOICE}, ["amount", "metadata"]),
    "make_invoice": (
        MakeInvoiceParams,
        {"amount": 1000},
        ["description", "description_hash", "expiry", "metadata"],
    ),
    "lookup_invoice": (LookupInvoiceParams, {"payment_hash": HASH}, ["invoice"]),
    "list_transactions": (
        ListTransactionsParams,
        {},
        ["from", "until", "limit", "offset", "unpaid", "type"],
    ),
}


@pytest.mark.parametrize(
    "method, optional", [(m, o) for m, (_, _, opts) in CASES.items() for o in opts]
)
def test_null_is_absent_for_each_optional_param(method: str, optional: str) -> None:
    model, required, _ = CASES[method]
    assert parse_params(model, {**required, optional: None}) == parse_params(model, required)


@pytest.mark.parametrize("method", list(CASES))
def test_null_for_every_optional_param_at_once(method: str) -> None:
    model, required, optionals = CASES[method]
    nulls = dict.fromkeys(optionals)
    assert parse_params(model, {**required, **nulls}) == parse_params(model, required)


def test_lookup_invoice_takes_either_key_with_the_other_null() -> None:
    by_invoice = parse_params(LookupInvoiceParams, {"payment_hash": None, "invoice": INVOICE})
    assert by_invoice.invoice == INVOICE and by_invoice.payment_hash is None
    with pytest.raises(NwcError) as err:
        parse_params(LookupInvoiceParams, {"payment_hash": None, "invoice": None})
    assert err.value.code == ErrorCode.OTHER


def test_null_for_a_required_param_is_still_refused() -> None:
    with pytest.raises(NwcError) as err:
        parse_params(MakeInvoiceParams, {"amount": None})
    assert err.value.code == ErrorCode.OTHER and "amount" in err.value.message
    with pytest.raises(NwcError):
        parse_params(PayInvoiceParams, {"invoice": None})


def test_list_transactions_handler_answers_with_null_paging() -> None:
    """Through the method module on a real (offline) Cashu wallet: the probe's request."""
    from signer_core.methods import load
    from signer_core.wallets import open_wallet
    from signer_core.wallets.cashu.wallet import CashuWallet

    data = CashuWallet.create_data("http://127.0.0.1:9", network="regtest")
    wallet = open_wallet("cashu", data, WalletEnv(seed=os.urandom(64), now=1_700_000_000))
    state = WalletState("w", 0, "cashu", "", "", backend_data=data)
    conn = Connection("c", "app", "00" * 32, "11" * 32, ["list_transactions"], 0)
    ctx = MethodContext(state, conn, wallet, "r" * 64, 1_700_000_000, lambda: None)
    params = {"from": None, "until": None, "limit": None, "offset": None, "unpaid": None}
    assert load("list_transactions")(ctx, {**params, "type": None}) == {"transactions": []}


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (MakeInvoiceParams, "amount", "1000"),  # the probe's case: coerced to a 1-sat invoice
        (MakeInvoiceParams, "amount", 1000.0),
        (MakeInvoiceParams, "amount", True),
        (MakeInvoiceParams, "expiry", "3600"),
        (PayInvoiceParams, "amount", "21000"),
        (ListTransactionsParams, "limit", "5"),
        (ListTransactionsParams, "unpaid", "true"),
        (ListTransactionsParams, "from", 1.5),
    ],
)
def test_numbers_and_booleans_are_never_coerced(model: Any, field: str, value: Any) -> None:
    _, required, _ = next(c for c in CASES.values() if c[0] is model)
    with pytest.raises(NwcError) as err:
        parse_params(model, {**required, field: value})
    assert err.value.code == ErrorCode.OTHER
    assert field in err.value.message
