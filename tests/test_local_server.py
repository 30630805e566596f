"""`nwc-signer dev` / functions.local over real HTTP: the webhook contract on the wire,
start-up on a new folder, restart on the same folder, a clean stop on SIGTERM, and the
server itself under load and abuse (many simultaneous deliveries, short bodies, other
methods)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.local import server as local_server
from nwc_signer.dev.process import free_port
from signer_core.protocol.webhook import sign_delivery
from tests.nwc import App, LocalWallet, remember_secret, run_cli


class Dev:
    """`nwc-signer dev` as a user runs it; both output streams are read as they come, so
    the test can wait for the "ready" line and still see every line at the end."""

    def __init__(self, data_dir: Path, mint_url: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nwc_signer.cli", "dev", "--data-dir", str(data_dir),
             "--mint-url", mint_url, "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _drain(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(line.startswith("==> ready") for line in self.err):
                return
            assert self.proc.poll() is None, "".join(self.err)
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError("nwc-signer dev never said it was ready:\n" + "".join(self.err))

    def stop(self) -> tuple[str, str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        for reader in self.readers:
            reader.join(timeout=5)
        err = "".join(self.err)
        assert self.proc.returncode == 0, err
        return "".join(self.out), err


def start_dev(data_dir: Path, mint_url: str, port: int) -> Dev:
    dev = Dev(data_dir, mint_url, port)
    dev.wait_ready()
    return dev


def stop(dev: Dev) -> tuple[str, str]:
    return dev.stop()


def post(port: int, body: bytes, headers: dict[str, str], path: str = "/") -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers, timeout=10)


@pytest.mark.mint
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


@pytest.mark.mint
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


# --- the HTTP server itself (no mint: get_balance of an empty Cashu wallet is offline) ----


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalWallet, int]]:
    """A wallet folder behind make_server on a free port, with a short read timeout."""
    monkeypatch.setattr(local_server, "READ_TIMEOUT_S", 1.0, raising=False)
    wallet = LocalWallet.create(tmp_path / "w", "http://127.0.0.1:1")
    server = local_server.make_server(wallet.path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield wallet, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def raw_exchange(port: int, data: bytes, *, wait: float = 30) -> bytes:
    """Send raw bytes, read until the server closes (or `wait` passes: then raise)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def http_post(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [b"POST / HTTP/1.1", b"Host: x", b"Content-Length: %d" % len(body)]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_fifty_simultaneous_deliveries_are_all_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 connections arrive before the server accepts any: all must get through the
    listen backlog (a backlog of 5 drops the SYNs of the rest) and all be answered."""
    wallet = LocalWallet.create(tmp_path / "w", "http://127.0.0.1:1")
    app = wallet.add_app(name="load")
    body = json.dumps({"type": "request", "event": app.request("get_balance")}).encode()
    request = http_post(body, sign_delivery(body, wallet.watcher_secret, int(time.time())))
    server = local_server.make_server(wallet.path, "127.0.0.1", 0)
    port = server.server_address[1]
    socks: list[socket.socket] = []
    try:
        for _ in range(50):  # the handshake completes in the kernel, or never (SYN dropped)
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for sock in socks:
            sock.settimeout(60)
            sock.sendall(request)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        answers = []
        for sock in socks:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            answers.append(data)
    finally:
        for sock in socks:
            sock.close()
        server.shutdown()
        server.server_close()
    heads = [a.partition(b"\r\n\r\n")[0].split(b" ", 2)[:2] for a in answers]
    assert all(h[0].startswith(b"HTTP/1.") for h in heads), heads
    assert all(json.loads(a.partition(b"\r\n\r\n")[2]) for a in answers)
    # read-only requests write nothing, so concurrent readers never conflict: all 200
    assert [h[1] for h in heads] == [b"200"] * 50


def test_a_short_body_is_cut_off_and_does_not_hold_the_server(
    served: tuple[LocalWallet, int],
) -> None:
    _, port = served
    stuck = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:  # announces 1000 bytes, sends 10, then stays silent
        stuck.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
        health = raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert health.startswith(b"HTTP/1.0 200") or health.startswith(b"HTTP/1.1 200")
        answer = b""
        while chunk := stuck.recv(65536):  # socket.timeout (a failure) if never closed
            answer += chunk
    finally:
        stuck.close()
    assert answer == b"" or answer.split(b" ", 2)[1] == b"408", answer
    if answer:
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"]


def test_a_silent_connection_is_closed(served: tuple[LocalWallet, int]) -> None:
    _, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST / HT")  # not even a full request line
        while sock.recv(65536):
            pass  # socket.timeout (a failure) if the server never lets go


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_with_allow_and_json(
    served: tuple[LocalWallet, int], method: str
) -> None:
    _, port = served
    res = httpx.request(method, f"http://127.0.0.1:{port}/", content=b"{}", timeout=30)
    assert res.status_code == 405
    assert set(res.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert res.headers["content-type"] == "application/json"
    assert res.json()["message"]


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_malformed_requests_get_json_errors_and_no_traceback(
    served: tuple[LocalWallet, int], raw: bytes, status: int
) -> None:
    _, port = served
    answer = raw_exchange(port, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), answer[:300]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["message"]
    assert b"Traceback" not in answer
