"""An incoming Spark payment wakes the sleeping wallet through Breez's webhook.

The whole path, with a real relay-watcher process, a real relay and the function on the
local runtime; only the Spark operators are the SDK double (tests/spark_double.py): the
wallet registers its hook URL with "Breez" on its first sync; a payer pays; "Breez" POSTs
to the hook; the watcher wakes the function at once; its sync finds the payment and the
``payment_received`` notification reaches the relay. Nothing else wakes the wallet here
(no scheduled wake-up was given to the watcher), so the hook did it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import breez_sdk_spark as b
import httpx
import pytest

from functions.local.datadir import DataDir
from nwc_signer.dev.relay import InProcessRelay
from signer_core.protocol.sparkhook import hook_url
from signer_core.vault.keys import registration_secret
from signer_core.wallets.spark import hook, webhooks
from tests.e2e import Listener, register, served, start_watcher, wait_for
from tests.nwc import App, LocalWallet, remember_secret, run_cli
from tests.spark_double import FakeSpark


def spark_wallet(path: Path, relay: str) -> LocalWallet:
    code, out, err = run_cli(
        "wallet", "create", "--data-dir", str(path), "--backend", "spark",
        "--network", "regtest", "--relay", relay,
    )  # fmt: skip
    assert code == 0, err
    phrase = out.split("Recovery phrase")[1].splitlines()[1].strip()
    remember_secret(phrase)
    remember_secret((path / "secrets" / "root.key").read_text().strip())
    watcher = bytes.fromhex((path / "secrets" / "watcher.key").read_text().strip())
    remember_secret(watcher.hex())
    local = LocalWallet(path, watcher, phrase)
    local.remember_keys()
    return local


def point_hooks_at(local: LocalWallet, watcher_url: str) -> str:
    """What a deploy does: the wallet config's spark_webhook_url, from the root secret."""
    folder = DataDir(local.path)
    cfg = folder.config()
    url = hook_url(watcher_url, registration_secret(folder.secrets().root_secret, cfg.wallet_id))
    cfg.wallet_config[hook.CONFIG_KEY] = url
    folder.save_config(cfg)
    return url


def breez_posts(registered: Any, body: dict[str, Any]) -> httpx.Response:
    """The service provider's delivery: JSON, HMAC-SHA256 of the raw body under the secret."""
    raw = json.dumps(body).encode()
    signature = webhooks.sign(raw, registered.secret)
    headers = {webhooks.SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
    return httpx.post(registered.url, content=raw, headers=headers, timeout=10)


def test_breez_hook_wakes_the_wallet_and_the_app_hears_of_the_payment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # this test plays the provider with httpx, which logs every URL it posts to at INFO:
    # the hook's token is a capability and stays out of the logs like any secret
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)  # setLevel: also clears the loggers' level caches
    try:
        run_scenario(tmp_path, monkeypatch)
    finally:
        httpx_log.setLevel(level)


def run_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSpark()
    monkeypatch.setattr(b, "connect", fake.connect)
    with contextlib.ExitStack() as es:
        relay = es.enter_context(InProcessRelay()).url
        local = spark_wallet(tmp_path / "w", relay)
        uri = local.connection_uri("--relay", relay, name="app")
        app = App.from_uri(uri)
        watcher = es.enter_context(start_watcher(tmp_path / "watcher", local.watcher_secret))
        url = point_hooks_at(local, watcher.url)
        register(local, watcher, es.enter_context(served(local)), [relay])

        made = local.call(app, "make_invoice", {"amount": 21_000, "description": "hook"})
        # registered by the first sync (the request's, or a wake-up's at registration)
        registered = wait_for(lambda: list(fake.webhooks.values()), 10, "the hook")[0]
        assert registered.url == url
        remember_secret(registered.secret)  # neither may reach a log
        remember_secret(url.rsplit("/", 1)[1])

        # strangers get 4xx and wake nobody
        wallet_hex = url.split("/")[-2]
        for bad in (url[:-2] + "00", url.replace(wallet_hex, "ab" * 32), url + "/x"):
            assert httpx.post(bad, content=b"{}", timeout=10).status_code in (404, 405)
        assert httpx.post(url, content=b"x" * 70_000, timeout=10).status_code == 413

        listener = es.enter_context(Listener([relay], {"kinds": [23197], "#p": [app.pubkey]}))
        fake.pay_in(made["result"]["invoice"])
        event = {"type": "LIGHTNING_RECEIVE_FINISHED", "payment_hash": "ignored"}
        assert breez_posts(registered, event).status_code == 202

        note = wait_for(lambda: listener.events, 20, "payment_received on the relay")[0]
        body = app.read(note)
        assert body["notification_type"] == "payment_received"
        assert body["notification"]["payment_hash"] == made["result"]["payment_hash"]
        assert body["notification"]["amount"] == 21_000
