"""App-initiated connections end to end, over a real relay, the relay-watcher process, the
local function and the real test mint:

- an app made of @getalby/sdk 8.0.3's NWAClient asks with its nostr+walletauth:// URI;
  `nwc-signer connection approve --admin-uri` sends create_connection with the wallet's
  admin connection; the SDK finds the info event tagged with its key, then gets the
  balance and pays within its budget through the watcher;
- `connection approve --data-dir` on the wallet folder publishes the info event itself.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from functions.local.datadir import DataDir
from nwc_signer.connections import nwc_call
from nwc_signer.dev.harness import run_cli
from nwc_signer.dev.mint import DevMint
from nwc_signer.dev.nwc_app import NwcApp
from nwc_signer.dev.ready import wait_until_serving
from nwc_signer.dev.relay import InProcessRelay
from nwc_signer.dev.watcher import WatcherProcess
from signer_core.crypto.secp import generate_private_key, xonly_pubkey
from signer_core.protocol.uri import ConnectionUri, parse_uri
from tests.e2e import connect, fetch, register, run, served, start_watcher, wait_for
from tests.nwc import App, LocalWallet, remember_secret

pytestmark = [pytest.mark.mint, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parent.parent
SDK_ESM = ROOT / "onboarding/static/home/node_modules/@getalby/sdk/dist/esm/nwc.js"


@dataclass
class Stack:
    relay: str
    wallet: LocalWallet
    watcher: WatcherProcess
    function_url: str
    admin_uri: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("walletauth")
    with contextlib.ExitStack() as es:
        # a mint of its own: once funded, its fake backend stops paying invoices by itself,
        # so the app's payment of the wallet's own invoice settles inside the mint
        mint = es.enter_context(DevMint())
        mint_url = mint.url
        relay = es.enter_context(InProcessRelay()).url
        wallet = LocalWallet.create(tmp / "w", mint_url)
        folder = DataDir(wallet.path)
        config = folder.config()
        config.relays = [relay]
        folder.save_config(config)
        admin_uri = wallet.connection_uri("--admin", name="home")
        remember_secret(parse_uri(admin_uri).secret)
        wallet.remember_keys()
        watcher = es.enter_context(start_watcher(tmp / "watcher", wallet.watcher_secret))
        url = es.enter_context(served(wallet))
        register(wallet, watcher, url, [relay])
        wallet.fund(App.from_uri(admin_uri), 100)
        mint.restart({"FAKEWALLET_BRR": "false"})
        yield Stack(relay, wallet, watcher, url, admin_uri)


class NodeApp:
    """tests/nwa_app.mjs: lines out of it, JSON calls into it."""

    def __init__(self, options: dict[str, Any]) -> None:
        node = shutil.which("node")
        assert node is not None
        self.proc = subprocess.Popen(
            [node, "--experimental-websocket", str(ROOT / "tests/nwa_app.mjs"), str(SDK_ESM),
             json.dumps(options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float = 60) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the NWAClient app said nothing in time") from None
        if line is None:
            assert self.proc.stderr is not None
            raise AssertionError(f"the NWAClient app ended: {self.proc.stderr.read()[-2000:]}")
        return dict(json.loads(line))

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"method": method, "params": params}) + "\n")
        self.proc.stdin.flush()
        return self.next()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def new_secret() -> bytes:
    secret = generate_private_key()
    remember_secret(secret)
    return secret


@pytest.mark.skipif(shutil.which("node") is None or not SDK_ESM.exists(),
                    reason="no node or no @getalby/sdk in the home page (bootstrap)")  # fmt: skip
def test_getalby_nwa_app_is_approved_through_the_admin_connection(stack: Stack) -> None:
    secret = new_secret()
    app = NodeApp({"relayUrls": [stack.relay], "appSecretKey": secret.hex(),
                   "requestMethods": ["get_balance", "pay_invoice", "get_budget"],
                   "name": "NWA shop", "maxAmount": 50_000, "budgetRenewal": "weekly"})  # fmt: skip
    try:
        uri = app.next()["uri"]
        assert uri.startswith("nostr+walletauth://" + xonly_pubkey(secret).hex())
        code, out, err = run_cli("connection", "approve", uri, "--admin-uri", stack.admin_uri,
                                 "--yes")  # fmt: skip
        assert code == 0, err + stack.watcher.log_tail(40)
        assert "at most 50 sats per week" in out
        found = app.next()  # the SDK found the info event tagged with its key
        assert found["balance"] == 100_000
        invoice = nwc_call(NwcApp.from_uri(stack.admin_uri), "make_invoice",
                           {"amount": 20_000}, 60)["invoice"]  # fmt: skip
        paid = app.call("pay_invoice", {"invoice": invoice})
        assert "result" in paid, paid  # internal settlement: no preimage to give
        budget = app.call("get_budget", {})["result"]
        assert budget["total_budget"] == 50_000 and budget["used_budget"] >= 20_000
        over = app.call(
            "pay_invoice",
            {
                "invoice": nwc_call(
                    NwcApp.from_uri(stack.admin_uri), "make_invoice", {"amount": 40_000}, 60
                )["invoice"]
            },
        )
        assert over["error"]["code"] == "QUOTA_EXCEEDED", over
    finally:
        app.close()


def test_local_folder_approval_publishes_the_info_event(stack: Stack) -> None:
    secret = new_secret()
    pubkey = xonly_pubkey(secret).hex()
    uri = (f"nostr+walletauth://{pubkey}?relay={quote(stack.relay, safe='')}"
           "&request_methods=get_balance%20get_info&name=Local%20app")  # fmt: skip
    code, out, err = run_cli("connection", "approve", uri, "--data-dir", str(stack.wallet.path),
                             "--yes")  # fmt: skip
    assert code == 0, err
    assert f"its info event for the app is on {stack.relay}" in out
    flt = {"kinds": [13194], "#p": [pubkey]}
    events = wait_for(lambda: fetch([stack.relay], flt), 20, "the info event tagged for the app")
    service = events[0]["pubkey"]
    assert ["p", pubkey] in events[0]["tags"] and "get_balance" in events[0]["content"]
    # `nwc-signer dev` re-registers the folder's keys when they change (ConnectionWatch)
    register(stack.wallet, stack.watcher, stack.function_url, [stack.relay])
    app_uri = str(ConnectionUri(service, [stack.relay], secret.hex()))
    # the watcher subscribes to the new key after answering the registration, and the relay
    # keeps no ephemeral request for a later subscription: wait as `nwc-signer dev` does
    wait_until_serving(app_uri, timeout=60)
    _, nwc = connect(app_uri)
    assert run(nwc.get_balance()).balance >= 0
