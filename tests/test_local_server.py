"""`nwc-signer dev` / functions.local over real HTTP: the webhook contract on the wire,
start-up on a new folder, restart on the same folder, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nwc_signer.devmint import free_port
from signer_core.webhook import sign_delivery
from tests.nwc import App, remember_secret, run_cli

pytestmark = pytest.mark.mint


def start_dev(data_dir: Path, mint_url: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nwc_signer.cli", "dev", "--data-dir", str(data_dir),
         "--mint-url", mint_url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.kill()
    raise AssertionError("nwc-signer dev did not start")


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return out, err


def post(port: int, body: bytes, headers: dict[str, str], path: str = "/") -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers, timeout=10)


def test_dev_serves_the_webhook_contract_and_stops_cleanly(tmp_path: Path, mint_url: str) -> None:
    data_dir, port = tmp_path / "dev", free_port()
    proc = start_dev(data_dir, mint_url, port)
    watcher = bytes.fromhex((data_dir / "secrets" / "watcher.key").read_text())
    remember_secret(watcher)
    remember_secret((data_dir / "secrets" / "root.key").read_text().strip())
    try:
        # a second connection, so the test holds its URI while the first sits in a pipe
        code, out, _ = run_cli(
            "connection", "add", "--data-dir", str(data_dir), "--name", "t", "--no-qr"
        )
        assert code == 0
        app = App.from_uri(out.strip().splitlines()[-1])
        event = app.request("get_balance")
        body = json.dumps({"type": "request", "event": event}).encode()
        signed = sign_delivery(body, watcher, int(time.time()))

        ok = post(port, body, signed)
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
        reply = app.read(ok.json()["events"][0])
        assert reply == {"result_type": "get_balance", "error": None, "result": {"balance": 0}}

        assert post(port, body, {**signed, "X-Nwc-Signature": "00" * 64}).status_code == 401
        assert post(port, body, signed, path="/nope").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port}/nope").status_code == 404
        bad = post(port, b"{", sign_delivery(b"{", watcher, int(time.time())))
        assert bad.status_code == 400 and "JSON" in bad.json()["message"]
        huge = b"x" * (300 * 1024)
        assert post(port, huge, sign_delivery(huge, watcher, int(time.time()))).status_code == 413
    finally:
        out, err = stop(proc)
    first_uri = [line for line in out.splitlines() if line.startswith("nostr+walletconnect://")]
    assert len(first_uri) == 1
    remember_secret(first_uri[0].split("secret=")[1][:64])
    assert "Recovery phrase" in out

    # started again on the same folder: same wallet, connections kept, no new URI
    proc = start_dev(data_dir, mint_url, port)
    try:
        again = post(port, body, sign_delivery(body, watcher, int(time.time())))
        assert again.status_code == 200
    finally:
        out, err = stop(proc)
    assert "reusing the wallet" in err
    assert "nostr+walletconnect://" not in out
