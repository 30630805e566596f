"""A lightning address with zaps, end to end on loopback: a payer (httpx, as a wallet's LNURL
client) -> relay-watcher process -> the wallet's function (local runtime) on the real
nutshell mint -> bolt11 -> paid by a second real Cashu wallet -> the watcher's scheduled
wake-up -> the zap receipt on a real relay, also on the relay only the zap request named.

nostr-sdk 0.45's Python bindings have no NIP-57 builders or receipt checks any more (only
`KindStandard.ZAP_REQUEST/ZAP_RECEIPT`): the zap request is built and signed with its
EventBuilder and Keys, and the receipt checked with its Event.verify plus NIP-57 appendix F
by hand."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import nostr_sdk as ns
import pytest

from nwc_signer import lightning_address
from nwc_signer.dev.mint import DevMint
from nwc_signer.dev.relay import InProcessRelay
from signer_core.protocol import zaps
from signer_core.protocol.bolt11 import decode
from signer_core.protocol.uri import parse_uri
from tests.e2e import Listener, register, served, start_watcher, wait_for
from tests.nwc import LocalWallet

pytestmark = [pytest.mark.mint, pytest.mark.timeout(180)]


def zap_request(keys: ns.Keys, recipient: str, amount: int, relays: list[str], lnurl: str) -> str:
    """A kind 9734 zap request as a Nostr client makes it (nostr-sdk's EventBuilder)."""
    tags = [
        ns.Tag.parse(["p", recipient]),
        ns.Tag.parse(["relays", *relays]),
        ns.Tag.parse(["amount", str(amount)]),
        ns.Tag.parse(["lnurl", lnurl]),
    ]
    builder = ns.EventBuilder(ns.Kind(9734), "for the e2e test").tags(tags)
    return str(builder.finalize(keys).as_json())


def test_lnurl_pay_with_a_zap_from_payer_to_receipt(tmp_path: Path) -> None:
    with contextlib.ExitStack() as es:
        mint = es.enter_context(DevMint())
        wallet_relay = es.enter_context(InProcessRelay())
        zap_only_relay = es.enter_context(InProcessRelay())  # named only by the zap request
        payee = LocalWallet.create(tmp_path / "payee", mint.url)
        payee_app = payee.add_app("--relay", wallet_relay.url, name="app")
        payer = LocalWallet.create(tmp_path / "payer", mint.url)
        payer_app = payer.add_app(name="app")
        payer.fund(payer_app, 100)
        # from here the fake backend pays no invoice by itself: only the payer can
        mint.restart({"FAKEWALLET_BRR": "false"})
        watcher = es.enter_context(start_watcher(tmp_path / "watcher", payee.watcher_secret))
        register(payee, watcher, es.enter_context(served(payee)), [wallet_relay.url])

        address = lightning_address.claim(payee.path, watcher.url, "zed")
        host = urlsplit(watcher.url).netloc
        assert address == f"zed@{host}"
        assert parse_uri(payee.connection_uri(name="later")).lud16 == address

        # the payer's wallet reads the LNURL-pay parameters (LUD-16: the well-known URL)
        params = httpx.get(f"{watcher.url}/.well-known/lnurlp/zed", timeout=10).json()
        assert params["tag"] == "payRequest" and params["allowsNostr"] is True
        metadata = json.loads(params["metadata"])
        assert ["text/identifier", address] in metadata
        from functions.local.datadir import DataDir

        folder = DataDir(payee.path)
        zap_key = zaps.zap_pubkey(folder.secrets().root_secret, folder.config().wallet_id)
        assert params["nostrPubkey"] == zap_key

        sender, recipient = ns.Keys.generate(), ns.Keys.generate().public_key().to_hex()
        relays = [wallet_relay.url, zap_only_relay.url]
        request = zap_request(sender, recipient, 21_000, relays, f"{watcher.url}/.well-known")
        query = f"amount=21000&nostr={quote(request)}&comment={quote('nice one')}"
        got = httpx.get(f"{params['callback']}?{query}", timeout=30)
        assert got.status_code == 200, got.text
        pr = got.json()["pr"]
        assert got.json()["routes"] == []
        assert decode(pr).amount_msat == 21_000

        flt = {"kinds": [9735], "authors": [zap_key]}
        with Listener([zap_only_relay.url], flt) as extra, Listener([wallet_relay.url], flt) as own:
            paid = payer.call(payer_app, "pay_invoice", {"invoice": pr})
            assert paid["error"] is None, paid
            # the function asked for a wake-up with the invoice; the watcher's schedule runs
            # it, the sync finds the invoice paid and the receipt comes back to be published
            try:
                found = wait_for(lambda: extra.events, 90, "the zap receipt on the zap's relay")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{watcher.log_tail(60)}") from None
            wait_for(lambda: own.events, 30, "the zap receipt on the wallet's relay")
        receipt_json = json.dumps(found[0])
        receipt = ns.Event.from_json(receipt_json)
        assert receipt.verify()
        assert receipt.kind().as_std() == ns.KindStandard.ZAP_RECEIPT
        assert receipt.author().to_hex() == params["nostrPubkey"]  # NIP-57 appendix F
        tags = {t[0]: t[1:] for t in found[0]["tags"]}
        assert tags["bolt11"] == [pr]
        assert tags["p"] == [recipient]
        assert tags["P"] == [sender.public_key().to_hex()]
        described = ns.Event.from_json(tags["description"][0])
        assert described.verify() and described.id().to_hex() == json.loads(request)["id"]
        assert decode(tags["bolt11"][0]).amount_msat == 21_000  # = the zap's amount tag
        assert len(extra.events) == 1

        # the money arrived, once
        balance = payee.call(payee_app, "get_balance")["result"]["balance"]
        assert balance == 21_000
        listed = payee.call(payee_app, "list_transactions", {})["result"]["transactions"]
        zap_tx = next(t for t in listed if t["invoice"] == pr)
        assert zap_tx["metadata"]["lightning_address"]["comment"] == "nice one"
        assert payee.call(payee_app, "get_info")["result"]["lud16"] == address

        # released: the name is free again, and neither get_info nor new URIs carry it
        assert lightning_address.claim(payee.path, watcher.url, "zed", release=True) == ""
        assert "lud16" not in payee.call(payee_app, "get_info")["result"]
        assert parse_uri(payee.connection_uri(name="after")).lud16 is None
        gone = httpx.get(f"{watcher.url}/.well-known/lnurlp/zed", timeout=10)
        assert gone.status_code == 404
