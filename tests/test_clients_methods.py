"""Every NWC method through two real clients, on the local stack with the real mint.

Clients: nostr-sdk's NostrWalletConnect (tests/clients/nostr_sdk_client.py) and
@getalby/sdk 8.0.3's NWCClient in Node (tests/clients/getalby.py). Stack: nostr-sdk's
LocalRelay, a relay-watcher process, the wallet's function on the local runtime, a nutshell
mint of its own (module scope: started once). The table of what each method must do per
backend is tests/clients/cases.py; a method in `signer_core.methods.IMPLEMENTED` without a
case there fails `test_every_method_has_a_case` (no stack needed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.local.datadir import DataDir
from nwc_signer.dev.mint import DevMint
from nwc_signer.dev.ready import wait_until_serving
from nwc_signer.dev.relay import InProcessRelay
from signer_core.methods import IMPLEMENTED, SIGNER_METHODS
from signer_core.protocol.lnurl import CONFIG_ALLOW_LOOPBACK_HTTP
from tests.clients import getalby
from tests.clients.cases import (
    EXPECTED,
    NOTIFY,
    UNSERVED,
    backend_methods,
    backend_notifications,
    not_implemented,
    runner,
)
from tests.clients.nostr_sdk_client import NostrSdkClient
from tests.clients.stack import CashuPayee, Client, Payee, SparkPayee, Stack
from tests.e2e import register, served, start_watcher, wait_for
from tests.lnurl_server import LnurlServer
from tests.nwc import App, LocalWallet

BACKENDS = ("cashu", "spark")
CLIENTS = ("nostr-sdk", "getalby")
BUDGET_SATS = 50_000


def test_every_method_has_a_case() -> None:
    """The forcing function: a new method (or backend method) without an expected case fails."""
    problems = []
    for backend in BACKENDS:
        declared = backend_methods(backend) | SIGNER_METHODS
        for method in IMPLEMENTED:
            case = EXPECTED.get((method, backend))
            if case is None:
                problems.append(f"no case for ({method!r}, {backend!r}) in tests/clients/cases.py")
            elif case.served != (method in declared):
                problems.append(
                    f"({method!r}, {backend!r}): the case expects "
                    f"{'a result' if case.served else 'NOT_IMPLEMENTED'} but the backend "
                    f"{'declares' if method in declared else 'does not declare'} it"
                )
        for kind in backend_notifications(backend):
            if (kind, backend) not in NOTIFY:
                problems.append(f"no trigger for notification ({kind!r}, {backend!r})")
    problems += [f"{m} is in IMPLEMENTED now: move it from UNSERVED to EXPECTED"
                 for m in UNSERVED if m in IMPLEMENTED]  # fmt: skip
    stale = sorted(k for k in EXPECTED if k[0] not in IMPLEMENTED or k[1] not in BACKENDS)
    problems += [f"case {k} names no implemented method or tested backend" for k in stale]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"clients-{request.param}")
    with contextlib.ExitStack() as es:
        relay = es.enter_context(InProcessRelay())
        if request.param == "cashu":
            yield from _cashu(es, tmp, relay.url)
        else:
            yield from _spark(es, tmp, relay.url)


def _admin_uri(wallet: LocalWallet, relay: str) -> str:
    return wallet.connection_uri("--relay", relay, "--admin", "--budget-sats", str(BUDGET_SATS),
                                 name="app")  # fmt: skip


def _lnurl(es: contextlib.ExitStack, wallet: LocalWallet, payee: Payee) -> LnurlServer:
    """A real LNURL-pay server on loopback whose invoices are the payee's; the payer's
    function may call loopback http (its wallet_config switch, off by default)."""
    folder = DataDir(wallet.path)
    config = folder.config()
    config.wallet_config[CONFIG_ALLOW_LOOPBACK_HTTP] = True
    folder.save_config(config)
    server = LnurlServer(lambda msat: payee.invoice(msat // 1000))
    es.callback(server.close)
    return server


def _serving(uri: str) -> None:
    """As `nwc-signer dev` does before it prints a URI: the info event is on the relay and a
    get_info through the relay is answered (an app is given the URI only then)."""
    seen = wait_until_serving(uri, timeout=60)
    assert seen.answered and seen.info_event


def _cashu(es: contextlib.ExitStack, tmp: Path, relay: str) -> Iterator[Stack]:
    mint = es.enter_context(DevMint())  # its own: restarted below without auto-paying
    payer = LocalWallet.create(tmp / "payer", mint.url)
    payee = LocalWallet.create(tmp / "payee", mint.url)
    uri = _admin_uri(payer, relay)
    payee_app = payee.add_app("--relay", relay, name="payee")
    payer.remember_keys()
    payee.remember_keys()
    to_payee = CashuPayee(payee, payee_app)
    lnurl = _lnurl(es, payer, to_payee)
    watcher = es.enter_context(start_watcher(tmp / "watcher", payer.watcher_secret))
    register(payer, watcher, es.enter_context(served(payer)), [relay])
    _serving(uri)
    app = App.from_uri(uri)
    payer.fund(app, 500)
    payee.fund(payee_app, 100)  # it pays the payer's invoices (payment_received)
    # from now on the fake Lightning backend leaves invoices unpaid: a balance moves only by
    # what the test does (the payee's invoices are paid by the payer, inside the mint)
    mint.restart({"FAKEWALLET_BRR": "false"})
    yield Stack("cashu", [relay], payer, uri, app, to_payee, BUDGET_SATS, lnurl)


def _spark(es: contextlib.ExitStack, tmp: Path, relay: str) -> Iterator[Stack]:
    """A regtest Spark wallet whose SDK is the double: the function runs in this process
    (the local runtime, warm), so breez_sdk_spark.connect is the double's for it too."""
    import breez_sdk_spark

    from nwc_signer.wallet import create_local_wallet
    from tests.nwc import remember_secret
    from tests.spark_double import FakeSpark

    fake = FakeSpark()
    patch = es.enter_context(pytest.MonkeyPatch.context())
    patch.setattr(breez_sdk_spark, "connect", fake.connect)
    made = create_local_wallet(tmp / "payer", backend="spark", network="regtest")
    assert made.watcher_secret is not None
    remember_secret(made.mnemonic)
    remember_secret((tmp / "payer" / "secrets" / "root.key").read_text().strip())
    payer = LocalWallet(made.data_dir, made.watcher_secret, made.mnemonic)
    uri = _admin_uri(payer, relay)
    payer.remember_keys()
    to_payee = SparkPayee(fake)
    lnurl = _lnurl(es, payer, to_payee)
    watcher = es.enter_context(start_watcher(tmp / "watcher", payer.watcher_secret))
    register(payer, watcher, es.enter_context(served(payer)), [relay])
    _serving(uri)
    app = App.from_uri(uri)
    invoice = payer.call(app, "make_invoice", {"amount": 500_000})["result"]["invoice"]
    fake.pay_in(invoice)
    wait_for(lambda: payer.wake() and _balance(payer, app) >= 500_000, 30, "the funding")
    yield Stack("spark", [relay], payer, uri, app, to_payee, BUDGET_SATS, lnurl, fake)


def _balance(wallet: LocalWallet, app: App) -> int:
    return int(wallet.call(app, "get_balance")["result"]["balance"])


@contextlib.contextmanager
def open_client(name: str, uri: str) -> Iterator[Client]:
    if name == "nostr-sdk":
        nostr = NostrSdkClient(uri)
        try:
            yield nostr
        finally:
            nostr.close()
        return
    why = getalby.missing()
    if why:
        pytest.skip(why)
    with getalby.GetAlbyClient(uri) as client:
        yield client


@pytest.mark.mint
@pytest.mark.timeout(600)
@pytest.mark.parametrize("client_name", CLIENTS)
def test_every_method_through_the_client(stack: Stack, client_name: str) -> None:
    """Walk IMPLEMENTED in order; every failure is collected so one run names them all."""
    failures: list[str] = []
    with open_client(client_name, stack.payer_uri) as client:
        for method in IMPLEMENTED:
            case = EXPECTED.get((method, stack.backend))
            if case is None:
                failures.append(f"{method}: no expected case for {stack.backend}")
                continue
            try:
                runner(method, case)(stack, client)
            except Exception as exc:  # noqa: BLE001 (every method's failure is reported)
                failures.append(f"{method}: {type(exc).__name__}: {exc}")
        for method in UNSERVED:
            try:
                not_implemented(method)(stack, client)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{method}: {type(exc).__name__}: {exc}")
    assert not failures, f"{client_name} on {stack.backend}:\n" + "\n".join(failures)


@pytest.mark.mint
@pytest.mark.timeout(300)
@pytest.mark.parametrize("client_name", CLIENTS)
def test_every_notification_reaches_the_client(stack: Stack, client_name: str) -> None:
    """Subscribe first, trigger every notification the backend sends, then wait for each
    (payment_received and hold_invoice_accepted come with the watcher's scheduled wake-up)."""
    kinds = sorted(backend_notifications(stack.backend))
    with open_client(client_name, stack.payer_uri) as client:
        client.subscribe(kinds)
        wanted = {kind: NOTIFY[(kind, stack.backend)](stack, client) for kind in kinds}
        seen: list[dict[str, Any]] = []

        def all_seen() -> bool:
            seen.extend(client.notifications())
            return all(any(match(n) for n in seen) for match in wanted.values())

        try:
            wait_for(all_seen, 90, f"{kinds} through {client_name}")
        except AssertionError:
            missing = [k for k, match in wanted.items() if not any(match(n) for n in seen)]
            got = [n.get("notification_type") for n in seen]
            raise AssertionError(
                f"{client_name} on {stack.backend}: never got {missing}; got {got}"
            ) from None
