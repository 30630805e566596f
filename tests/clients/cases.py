"""What every NWC method must do through a real client, per backend: the expected table.

`EXPECTED[(method, backend)]` is a Case: `run(stack, client)` does its own set-up through
the harness (straight to the function, no relay), calls the method once through the client
and checks the answer against the wallet itself (balances, decoded invoices, the
connection list). `NOT_IMPLEMENTED` cases send plausible params (so a client's own
checks pass) and expect that NIP-47 error. tests/test_clients_methods.py fails for a method
in `signer_core.methods.IMPLEMENTED` that has no case here, and for a case that disagrees
with the backend's `Wallet.methods`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.bolt11 import decode
from tests.clients.stack import Client, Stack

Run = Callable[[Stack, Client], None]


@dataclass(frozen=True)
class Case:
    """`run` checks a real result; `run is None` means the answer must be NOT_IMPLEMENTED."""

    run: Run | None
    note: str = ""

    @property
    def served(self) -> bool:
        return self.run is not None


def _hex32() -> str:
    return os.urandom(32).hex()


# plausible params for every method, so a client's own checks pass before it sends
# methods both clients wrap that no backend of ours serves (NWC-04 keysend): NOT_IMPLEMENTED
UNSERVED: tuple[str, ...] = ("pay_keysend",)

SAMPLE_PARAMS: dict[str, Callable[[Stack], dict[str, Any]]] = {
    "pay_keysend": lambda s: {"amount": 1000, "pubkey": "02" + "11" * 32},
    "pay": lambda s: {"payment": f"bitcoin:?lightning={s.payee_invoice(1)}"},
    "receive": lambda s: {"amount": 1000},
    "make_hold_invoice": lambda s: {"amount": 1000, "payment_hash": _hex32()},
    "settle_hold_invoice": lambda s: {"preimage": _hex32()},
    "cancel_hold_invoice": lambda s: {"payment_hash": _hex32()},
    "sign_message": lambda s: {"message": "nwc-signer client test"},
}


def not_implemented(method: str) -> Run:
    def run(stack: Stack, client: Client) -> None:
        params = SAMPLE_PARAMS[method](stack) if method in SAMPLE_PARAMS else {}
        got = client.call(method, params)
        assert got.code == "NOT_IMPLEMENTED", f"{method}: wanted NOT_IMPLEMENTED, got {got}"

    return run


# -- the real results ---------------------------------------------------------------------


def pay_invoice(stack: Stack, client: Client) -> None:
    _pays(stack, client, "pay_invoice", lambda invoice: {"invoice": invoice})


def pay(stack: Stack, client: Client) -> None:
    """NWC-321: a BIP-321 URI carrying the payee's bolt11, paid exactly as pay_invoice; then
    a lightning address, resolved by the function through a real LNURL-pay server."""
    _pays(stack, client, "pay", lambda invoice: {"payment": f"bitcoin:?lightning={invoice}"})
    before, asked = stack.balance(), len(stack.lnurl.hits)
    got = client.call("pay", {"payment": stack.lnurl.address, "amount": 11_000}).expect_result()
    assert got["state"] == "settled" and got["amount"] == 11_000, got
    assert before - stack.balance() == 11_000 + int(got["fees_paid"]), got
    name = stack.lnurl.name
    assert stack.lnurl.hits[asked:] == [f"/.well-known/lnurlp/{name}", f"/callback/{name}"]


def pay_within_max_fee(stack: Stack, client: Client) -> None:
    """pay, then NWC-321's max_fee: below the backend's fee (the Spark double charges 2 sats)
    the answer is FEE_LIMIT_EXCEEDED and nothing moves."""
    pay(stack, client)
    invoice = stack.payee_invoice(9)
    before = stack.balance()
    params = {"payment": f"bitcoin:?lightning={invoice}", "max_fee": 1_000}
    got = client.call("pay", params)
    assert got.code == "FEE_LIMIT_EXCEEDED", got
    assert stack.balance() == before and not stack.payee.paid(invoice)


def _pays(
    stack: Stack, client: Client, method: str, params: Callable[[str], dict[str, Any]]
) -> None:
    """The payer's balance drops by amount + fees, the payee's rises by the amount."""
    sats = 21
    invoice = stack.payee_invoice(sats)
    before = stack.balance()
    paid = client.call(method, params(invoice)).expect_result()
    after = stack.balance()
    fees = int(paid.get("fees_paid") or 0)
    assert before - after == sats * 1000 + fees, (before, after, paid)
    assert isinstance(paid.get("preimage", ""), str), paid  # Cashu's internal melt has none
    assert stack.payee.paid(invoice), "the payee never saw the invoice paid"


def make_invoice(stack: Stack, client: Client) -> None:
    made = client.call("make_invoice", {"amount": 12_000, "description": "clients"}).expect_result()
    inv = decode(made["invoice"])
    assert inv.amount_msat == 12_000 and inv.description == "clients"
    assert made["payment_hash"] == inv.payment_hash and made["amount"] == 12_000
    found = stack.direct("lookup_invoice", {"payment_hash": inv.payment_hash})
    assert found["invoice"] == made["invoice"]


def receive(stack: Stack, client: Client) -> None:
    """NWC-321: a BIP-321 URI with a bolt11 of the amount; its id is the payment hash."""
    got = client.call("receive", {"amount": 15_000, "description": "321"}).expect_result()
    uri = got["bip321"]
    assert uri.startswith("bitcoin:?lightning="), uri
    inv = decode(uri.split("lightning=", 1)[1].split("&", 1)[0])
    assert inv.amount_msat == 15_000 and got["transaction_id"] == inv.payment_hash
    found = stack.direct("lookup_invoice", {"payment_hash": inv.payment_hash})
    assert decode(found["invoice"]).payment_hash == inv.payment_hash


def lookup_invoice(stack: Stack, client: Client) -> None:
    made = stack.direct("make_invoice", {"amount": 13_000})
    got = client.call("lookup_invoice", {"payment_hash": made["payment_hash"]}).expect_result()
    assert got["invoice"] == made["invoice"] and got["amount"] == 13_000
    by_invoice = client.call("lookup_invoice", {"invoice": made["invoice"]}).expect_result()
    assert by_invoice["payment_hash"] == made["payment_hash"]
    missing = client.call("lookup_invoice", {"payment_hash": _hex32()})
    assert missing.code == "NOT_FOUND", missing


def list_transactions(stack: Stack, client: Client) -> None:
    made = stack.direct("make_invoice", {"amount": 14_000})
    got = client.call("list_transactions", {"limit": 50, "unpaid": True}).expect_result()
    hashes = [t["payment_hash"] for t in got["transactions"]]
    assert made["payment_hash"] in hashes, hashes


def get_balance(stack: Stack, client: Client) -> None:
    got = client.call("get_balance").expect_result()
    assert got["balance"] == stack.balance() > 0


def get_info(stack: Stack, client: Client) -> None:
    from signer_core.methods import IMPLEMENTED, SIGNER_METHODS

    got = client.call("get_info").expect_result()
    assert got["pubkey"] == stack.app.uri.service_pubkey, got
    assert got["pubkey"] == stack.app.uri.service_pubkey
    served = backend_methods(stack.backend) | SIGNER_METHODS
    wanted = [m for m in IMPLEMENTED if m in served]
    assert got["methods"] == wanted, (got["methods"], wanted)
    # the info event (13194) as the client reads it agrees with get_info
    seen = client.service_info()
    assert "nip44_v2" in seen["encryptions"], seen
    assert [c for c in seen["capabilities"] if c != "notifications"] == wanted, seen
    sent = sorted(backend_notifications(stack.backend))
    assert sorted(seen["notifications"]) == sent, (seen, sent)
    if "notifications" in got:  # nostr-sdk keeps it; @getalby/sdk passes the result through
        assert sorted(got["notifications"]) == sent, got
    if "extensions" in got:  # @getalby/sdk only (nostr-sdk's record drops unknown fields)
        assert "nip44_v2" in got["encryption"], got
        ext = set(got["extensions"]) - {"06"}  # 06 metadata: where make_invoice keeps it
        listed = set(wanted)
        want = {"02"} if sent else set()
        want |= {"03"} if {"make_hold_invoice", "settle_hold_invoice"} <= listed else set()
        want |= {"05"} if "list_transactions" in listed else set()
        want |= {"321"} if listed & {"pay", "receive"} else set()
        assert ext == want, (got["extensions"], sorted(want))


def get_budget(stack: Stack, client: Client) -> None:
    got = client.call("get_budget").expect_result()
    assert got["total_budget"] == stack.budget_sats * 1000
    assert got["used_budget"] == stack.direct("get_budget")["used_budget"]
    assert got["renewal_period"] == "monthly"


def create_connection(stack: Stack, client: Client) -> None:
    pubkey = xonly_pubkey(os.urandom(32)).hex()
    name = f"made-by-client-{pubkey[:8]}"
    params = {"pubkey": pubkey, "name": name, "request_methods": ["get_balance", "get_info"]}
    got = client.call("create_connection", params).expect_result()
    listed = {c["name"]: c for c in stack.direct("list_connections")["connections"]}
    assert listed[name]["wallet_pubkey"] == got["wallet_pubkey"]
    assert set(listed[name]["request_methods"]) >= {"get_balance", "get_info"}


def list_connections(stack: Stack, client: Client) -> None:
    got = client.call("list_connections").expect_result()
    mine = [c for c in got["connections"] if c["wallet_pubkey"] == stack.app.uri.service_pubkey]
    assert len(mine) == 1 and mine[0]["admin"] is True, got


def revoke_connection(stack: Stack, client: Client) -> None:
    pubkey = xonly_pubkey(os.urandom(32)).hex()
    name = f"to-revoke-{pubkey[:8]}"
    params = {"pubkey": pubkey, "name": name, "request_methods": ["get_balance"]}
    target = stack.direct("create_connection", params)["wallet_pubkey"]
    got = client.call("revoke_connection", {"wallet_pubkey": target}).expect_result()
    stack.payer.remember_keys()  # the state is sealed under a new data key now
    assert got["revoked"] is True and got["wallet_pubkey"] == target
    names = [c["name"] for c in stack.direct("list_connections")["connections"]]
    assert name not in names


def make_hold_invoice(stack: Stack, client: Client) -> None:
    preimage = os.urandom(32)
    payment_hash = hashlib.sha256(preimage).hexdigest()
    params = {"amount": 16_000, "payment_hash": payment_hash, "description": "hold"}
    made = client.call("make_hold_invoice", params).expect_result()
    inv = decode(made["invoice"])
    assert inv.payment_hash == payment_hash and inv.amount_msat == 16_000, made
    assert made["payment_hash"] == payment_hash and made["amount"] == 16_000, made


def settle_hold_invoice(stack: Stack, client: Client) -> None:
    """A held payment (paid in at the double, noticed by a wake) is claimed by the preimage:
    the balance rises by its amount only now."""
    preimage = os.urandom(32)
    payment_hash = hashlib.sha256(preimage).hexdigest()
    made = stack.direct("make_hold_invoice", {"amount": 17_000, "payment_hash": payment_hash})
    stack.payee.pay_in(made["invoice"])
    stack.payer.wake()  # the sync that sees the held HTLC (hold_invoice_accepted)
    before = stack.balance()
    client.call("settle_hold_invoice", {"preimage": preimage.hex()}).expect_result()
    assert stack.balance() == before + 17_000
    found = stack.direct("lookup_invoice", {"payment_hash": payment_hash})
    assert found["state"] == "settled", found


def sign_message(stack: Stack, client: Client) -> None:
    """Spark: ECDSA by the identity key over SHA-256 of the message, compact hex."""
    from coincurve import PublicKey
    from coincurve.ecdsa import cdata_to_der, deserialize_compact

    from tests.spark_double import IDENTITY_PUBKEY

    message = "nwc-signer client test"
    got = client.call("sign_message", {"message": message}).expect_result()
    assert got["message"] == message
    der = cdata_to_der(deserialize_compact(bytes.fromhex(got["signature"])))
    digest = hashlib.sha256(message.encode()).digest()
    assert PublicKey(bytes.fromhex(IDENTITY_PUBKEY)).verify(der, digest, hasher=None)


def transfer_funds(stack: Stack, client: Client) -> None:
    """Main balance -> an isolated connection (docs/isolated-connections.md): its balance
    rises, the main balance the admin connection sees falls by as much; nothing else moves."""
    pubkey = xonly_pubkey(os.urandom(32)).hex()
    params = {"pubkey": pubkey, "name": f"isolated-{pubkey[:8]}", "isolated": True,
              "request_methods": ["get_balance", "pay_invoice"]}  # fmt: skip
    target = stack.direct("create_connection", params)["wallet_pubkey"]
    before = stack.balance()
    got = client.call("transfer_funds", {"amount": 3_000, "to": target}).expect_result()
    assert got["amount"] == 3_000 and got["to"]["balance"] == 3_000, got
    assert got["from"] == {"main": True}, got
    listed = [c for c in stack.direct("list_connections")["connections"]
              if c["wallet_pubkey"] == target]  # fmt: skip
    assert listed[0]["balance"] == 3_000, listed
    assert stack.balance() == before - 3_000


def backend_methods(backend: str) -> frozenset[str]:
    """The methods a backend class declares (`Wallet.methods`), read without opening it."""
    from importlib import import_module

    from signer_core.wallets import BACKENDS

    module, _, attr = BACKENDS[backend].partition(":")
    methods: frozenset[str] = getattr(import_module(module), attr).methods
    return methods


# (method, backend) -> what a real client must get. Add a case when a method or backend lands.
EXPECTED: dict[tuple[str, str], Case] = {
    ("pay_invoice", "cashu"): Case(pay_invoice),
    ("make_invoice", "cashu"): Case(make_invoice),
    ("lookup_invoice", "cashu"): Case(lookup_invoice),
    ("list_transactions", "cashu"): Case(list_transactions),
    ("get_balance", "cashu"): Case(get_balance),
    ("get_info", "cashu"): Case(get_info),
    ("pay", "cashu"): Case(pay),
    ("receive", "cashu"): Case(receive),
    ("make_hold_invoice", "cashu"): Case(None, "a mint cannot hold an invoice"),
    ("settle_hold_invoice", "cashu"): Case(None, "a mint cannot hold an invoice"),
    ("cancel_hold_invoice", "cashu"): Case(None, "a mint cannot hold an invoice"),
    ("sign_message", "cashu"): Case(None, "no node key to sign with"),
    ("get_budget", "cashu"): Case(get_budget),
    ("create_connection", "cashu"): Case(create_connection),
    ("list_connections", "cashu"): Case(list_connections),
    ("revoke_connection", "cashu"): Case(revoke_connection),
    ("transfer_funds", "cashu"): Case(transfer_funds),
    # Spark: the real adapter over the SDK double (tests/spark_double.py)
    ("pay_invoice", "spark"): Case(pay_invoice),
    ("make_invoice", "spark"): Case(make_invoice),
    ("lookup_invoice", "spark"): Case(lookup_invoice),
    ("list_transactions", "spark"): Case(list_transactions),
    ("get_balance", "spark"): Case(get_balance),
    ("get_info", "spark"): Case(get_info),
    ("pay", "spark"): Case(pay_within_max_fee),
    ("receive", "spark"): Case(receive),
    ("make_hold_invoice", "spark"): Case(make_hold_invoice),
    ("settle_hold_invoice", "spark"): Case(settle_hold_invoice),
    ("cancel_hold_invoice", "spark"): Case(None, "the SDK cannot fail a held HTLC back early"),
    ("sign_message", "spark"): Case(sign_message),
    ("get_budget", "spark"): Case(get_budget),
    ("create_connection", "spark"): Case(create_connection),
    ("list_connections", "spark"): Case(list_connections),
    ("revoke_connection", "spark"): Case(revoke_connection),
    ("transfer_funds", "spark"): Case(transfer_funds),
}


# -- notifications (NWC-02): each trigger acts through the client (so the watcher publishes
# what the function answers) and returns what the awaited notification must match ---------

Match = Callable[[dict[str, Any]], bool]
Trigger = Callable[[Stack, Client], Match]


def _about(kind: str, payment_hash: str) -> Match:
    def match(note: dict[str, Any]) -> bool:
        body = note.get("notification") or {}
        return bool(
            note.get("notification_type") == kind and body.get("payment_hash") == payment_hash
        )

    return match


def payment_sent(stack: Stack, client: Client) -> Match:
    """The client's own payment: answered, and notified to every connection."""
    invoice = stack.payee_invoice(5)
    client.call("pay_invoice", {"invoice": invoice}).expect_result()
    return _about("payment_sent", decode(invoice).payment_hash)


def payment_received(stack: Stack, client: Client) -> Match:
    """An invoice made by the client, paid from outside: noticed at a scheduled wake-up."""
    made = client.call("make_invoice", {"amount": 7_000}).expect_result()
    stack.payee.pay_in(made["invoice"])
    return _about("payment_received", decode(made["invoice"]).payment_hash)


def hold_invoice_accepted(stack: Stack, client: Client) -> Match:
    payment_hash = hashlib.sha256(os.urandom(32)).hexdigest()
    params = {"amount": 8_000, "payment_hash": payment_hash}
    made = client.call("make_hold_invoice", params).expect_result()
    stack.payee.pay_in(made["invoice"])
    about = _about("hold_invoice_accepted", payment_hash)
    # NWC-03's settle_deadline is a block height, which Spark has not: it sends the HTLC's
    # deadline as a time, settle_deadline_at (docs/spark-extensions.md)
    return lambda note: about(note) and note["notification"].get("settle_deadline_at", 0) > 0


NOTIFY: dict[tuple[str, str], Trigger] = {
    ("payment_sent", "cashu"): payment_sent,
    ("payment_received", "cashu"): payment_received,
    ("payment_sent", "spark"): payment_sent,
    ("payment_received", "spark"): payment_received,
    ("hold_invoice_accepted", "spark"): hold_invoice_accepted,
}


def backend_notifications(backend: str) -> frozenset[str]:
    from importlib import import_module

    from signer_core.wallets import BACKENDS

    module, _, attr = BACKENDS[backend].partition(":")
    found: frozenset[str] = getattr(import_module(module), attr).notifications
    return found


def runner(method: str, case: Case) -> Run:
    return case.run if case.run is not None else not_implemented(method)
