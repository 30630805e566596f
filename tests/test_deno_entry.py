"""The Deno entry (functions/deno/main.ts + entry.py) in the real deno binary, over HTTP:
routes and refusals answered before any state is touched, settings that are missing or
malformed answered 503 "not configured" (never a 500), and a fresh instance under
concurrent deliveries (a request and wake-ups at the same moment), which must not crash
Pyodide while one delivery is suspended in run_sync."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nwc_signer.dev.deno import HOST_DIR, host_argv, host_missing
from nwc_signer.dev.process import Supervisor, free_port, http_probe
from signer_core.protocol.webhook import (
    MAX_BODY_BYTES,
    WebhookResponse,
    parse_response,
    request_delivery,
    signed_delivery,
    wake_delivery,
)
from tests.conformance.adapters.deno import DenoTarget, open_target

pytestmark = [pytest.mark.timeout(240)]
GOOD = {"ROOT_SECRET": "11" * 32, "WATCHER_PUBKEY": "22" * 32, "WALLET_ID": "w1"}


def _skip_without_host() -> None:
    reason = host_missing()
    if reason is not None:
        pytest.skip(f"DENO HOST NOT INSTALLED: {reason}")


def _host(tmp: Path, settings: dict[str, str], kv: str | None = None) -> Supervisor:
    """main.ts serve with exactly these settings (the others removed from its env)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update(settings)
    argv = host_argv("serve", "--hostname", "127.0.0.1", "--port", str(port), "--offline",
                     "--kv", kv or str(tmp / "kv.sqlite3"))  # fmt: skip
    child = Supervisor(
        "Deno host", argv, ready=http_probe(f"http://127.0.0.1:{port}/health"),
        log_path=tmp / "host.log", env=env, cwd=HOST_DIR, start_timeout=120,
    )  # fmt: skip
    child.start()
    child.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return child


@pytest.fixture(scope="module")
def unconfigured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A host with no settings at all."""
    _skip_without_host()
    child = _host(tmp_path_factory.mktemp("deno-unconfigured"), {})
    try:
        yield child.url  # type: ignore[attr-defined]
    finally:
        child.stop()


def test_routes_answered_before_the_body(unconfigured: str) -> None:
    with httpx.Client(base_url=unconfigured, timeout=30) as http:
        health = http.get("/health")
        assert (health.status_code, health.json()) == (200, {"ok": True})
        assert http.get("/").status_code == 404
        assert http.post("/nope", content=b"{}").status_code == 404
        put = http.put("/", content=b"{}")
        assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST"
        big = http.post("/webhook", content=b"x" * (MAX_BODY_BYTES + 1))
        assert big.status_code == 413
        # a JSON error body, never a traceback
        assert "Traceback" not in big.text and big.json()["message"]


def test_missing_settings_are_503_not_configured(unconfigured: str) -> None:
    res = httpx.post(unconfigured + "/", content=b"{}", timeout=30)
    assert res.status_code == 503
    message = res.json()["message"]
    assert message.startswith("not configured")
    assert all(name in message for name in GOOD)


@pytest.mark.parametrize(
    "settings, named",
    [
        ({**GOOD, "ROOT_SECRET": "zz" * 32}, "ROOT_SECRET"),  # 64 characters, not hex
        ({**GOOD, "ROOT_SECRET": "11" * 31}, "ROOT_SECRET"),
        ({**GOOD, "WATCHER_PUBKEY": "not a key"}, "WATCHER_PUBKEY"),
        ({k: v for k, v in GOOD.items() if k != "WALLET_ID"}, "WALLET_ID"),
    ],
)
def test_malformed_settings_are_503(tmp_path: Path, settings: dict[str, str], named: str) -> None:
    _skip_without_host()
    child = _host(tmp_path, settings)
    try:
        res = httpx.post(child.url + "/", content=b"{}", timeout=30)  # type: ignore[attr-defined]
    finally:
        child.stop()
    assert res.status_code == 503
    message = res.json()["message"]
    assert message.startswith("not configured: ") and named in message
    assert settings.get(named, "\0") not in res.text  # the value is never echoed


def test_no_kv_database_is_503(tmp_path: Path) -> None:
    _skip_without_host()
    child = _host(tmp_path, GOOD, kv=str(tmp_path))  # a folder: Deno.openKv fails
    try:
        res = httpx.post(child.url + "/", content=b"{}", timeout=30)  # type: ignore[attr-defined]
    finally:
        child.stop()
    assert (res.status_code, res.json()["message"]) == (503, "not configured: no Deno KV database")


def _send(target: DenoTarget, delivery: object) -> WebhookResponse:
    headers, body = signed_delivery(delivery, target.watcher_secret, int(time.time()))  # type: ignore[arg-type]
    return target.post(headers, body)


@pytest.mark.mint
def test_a_fresh_instance_answers_concurrent_deliveries(tmp_path: Path, mint_url: str) -> None:
    with open_target(tmp_path, mint_url) as target:
        app = target.add_app("main")
        deliveries = [wake_delivery(), wake_delivery()]
        calls = [("get_info", {}), ("get_balance", {}), ("make_invoice", {"amount": 1000}),
                 ("list_transactions", {})]  # fmt: skip
        for method, params in calls:
            deliveries.append(request_delivery(app.request(method, params), ["ws://127.0.0.1:1"]))
        with ThreadPoolExecutor(len(deliveries)) as pool:
            answers = list(pool.map(lambda d: _send(target, d), deliveries))
        assert [a.status for a in answers] == [200] * len(deliveries), [a.message for a in answers]
        for answer in answers[2:]:
            (reply,) = [e for e in answer.events if e["kind"] == 23195]
            assert app.read(reply)["error"] is None, app.read(reply)
        again = _send(
            target, request_delivery(app.request("get_balance", {}), ["ws://127.0.0.1:1"])
        )
        assert again.status == 200
        assert target.blob()
        # an unsigned delivery is refused by the pipeline, not by the host
        res = target.http.post(target.url + "/", content=b"{}")
        assert parse_response(res.status_code, res.headers, res.content).status == 401


@pytest.mark.mint
def test_the_deploy_commands_seed_call_writes_the_first_blob_once(
    tmp_path: Path, mint_url: str
) -> None:
    """signer_core/protocol/seed.py's contract, answered by entry.py on an empty KV."""
    from functions.local.datadir import DataDir
    from nwc_signer.dev.deno import DenoHost
    from signer_core.protocol import seed
    from tests.nwc import LocalWallet

    _skip_without_host()
    wallet = LocalWallet.create(tmp_path / "wallet", mint_url)
    folder = DataDir(wallet.path)
    root, wallet_id = folder.secrets().root_secret, folder.config().wallet_id
    found = folder.store().read()
    assert found is not None
    blob = found[0]
    with DenoHost(wallet.path, tmp_path / "deno") as host, httpx.Client(timeout=60) as http:
        url = host.url + seed.PATH
        headers, body = seed.build(root, wallet_id, blob, int(time.time()))
        forged = {**headers, seed.HEADER: headers[seed.HEADER][:-1] + "0"}
        if forged == headers:
            forged[seed.HEADER] = headers[seed.HEADER][:-1] + "1"
        assert http.post(url, content=body, headers=forged).status_code == 401
        stale, _ = seed.build(root, wallet_id, blob, int(time.time()) - 3600)
        assert http.post(url, content=body, headers=stale).status_code == 401
        assert http.get(host.url + "/__admin/state").status_code == 404  # nothing written
        other = blob[:-1] + bytes([blob[-1] ^ 1])  # still this wallet's header
        bad_headers, bad_body = seed.build(root, wallet_id, b"not a sealed blob", int(time.time()))
        assert http.post(url, content=bad_body, headers=bad_headers).status_code == 400
        first = http.post(url, content=body, headers=headers)
        assert first.status_code == 201 and first.json()["state"] == "written"
        generation = first.json()["generation"]
        again_headers, again_body = seed.build(root, wallet_id, other, int(time.time()))
        again = http.post(url, content=again_body, headers=again_headers)
        assert (again.status_code, again.json()) == (200, {"state": "exists",
                                                            "generation": generation})  # fmt: skip
        assert http.get(host.url + "/__admin/state").content == blob  # never replaced
        assert int(http.get(host.url + "/__admin/guard").text) == generation
