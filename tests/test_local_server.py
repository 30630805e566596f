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
from signer_core.protocol.webhook import sign_delivery
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


def test_a_new_user_runs_dev_pastes_the_uri_into_an_nwc_app_and_pays(
    tmp_path: Path, mint_url: str
) -> None:
    """The milestone's promise: run the stack, paste the printed URI into an NWC app, pay."""
    import queue
    import threading

    import nostr_sdk as ns

    from tests.e2e import run
    from tests.nwc import LocalWallet

    ports = {k: str(free_port()) for k in ("--port", "--relay-port", "--watcher-port")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nwc_signer.cli", "dev", "--data-dir", str(tmp_path / "dev"),
         "--mint-url", mint_url, "--fund", "300", *[x for kv in ports.items() for x in kv]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda s=stream: [lines.put(x) for x in s], daemon=True).start()
    uri, ready, seen = None, False, []
    deadline = time.time() + 90
    try:
        while not (uri and ready):
            assert time.time() < deadline, "".join(seen)
            assert proc.poll() is None, "".join(seen)
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("nostr+walletconnect://"):
                uri = line.strip()
                remember_secret(uri.split("secret=")[1][:64])
            ready = ready or "ready:" in line
        nwc = ns.NostrWalletConnect(ns.NostrWalletConnectUri.parse(uri))
        assert run(nwc.get_balance()).balance == 300_000
        payee = LocalWallet.create(tmp_path / "payee", mint_url)
        invoice = payee.invoice(payee.add_app(name="payee"), 21)
        paid = run(nwc.pay_invoice(ns.PayInvoiceRequest(id=None, invoice=invoice, amount=None)))
        assert run(nwc.get_balance()).balance == 300_000 - 21_000 - (paid.fees_paid or 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    marker = str(tmp_path / "dev")
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    leftovers.append(entry.name)
            except OSError:
                continue
    assert leftovers == [], "processes left behind"
