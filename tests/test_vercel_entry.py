"""`functions/vercel/api/webhook.py` as Vercel's Python runtime serves it (the loader of
nwc_signer/dev/vercel.py repeats vc_init.py's handler path): HTTP edges answered in the
contract's JSON, the deployed layout importing only the standard library, signer_core and
its pins, and the Spark backend (the real breez-sdk-spark, offline) running through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nwc_signer.dev.harness import run_cli
from nwc_signer.dev.vercel import VercelHost, build_project, load_handler, make_server
from signer_core.protocol.webhook import parse_response, request_delivery, signed_delivery
from tests.nwc import App, LocalWallet, remember_secret
from tests.vercel_blob_api import BlobApiFake


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("vercel") / "project")


@pytest.fixture
def served(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The handler in this process on the vc_init-like server, configured over a fake."""
    with BlobApiFake() as fake:
        for name, value in {
            "ROOT_SECRET": "11" * 32, "WATCHER_PUBKEY": "22" * 32, "WALLET_ID": "w1",
            "BLOB_READ_WRITE_TOKEN": fake.token, "VERCEL_BLOB_API_URL": fake.api_url,
            "NWC_SIGNER_BLOB_STORE_URL": fake.url,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        server = make_server(project, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def raw(url: str, data: bytes) -> tuple[int, dict[str, object]]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def test_http_edges_answer_json_and_never_5xx(served: str) -> None:
    assert httpx.get(served + "/api/webhook").json() == {"ok": True}
    assert httpx.get(served + "/_vercel/ping").status_code == 200  # the runtime's own route
    put = httpx.put(served + "/api/webhook", content=b"{}")
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST"
    assert raw(served, b"BREW /api/webhook HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 405
    assert raw(served, b"POST /api/webhook HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 411
    big = b"POST /api/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"
    assert raw(served, big)[0] == 413
    bad = b"POST /api/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"
    assert raw(served, bad)[0] == 400
    chunked = b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    status, body = raw(served, b"POST /api/webhook HTTP/1.1\r\nHost: x\r\n" + chunked)
    assert status == 401 and "message" in body  # read whole, then refused: unsigned
    assert httpx.post(served + "/elsewhere", content=b"{}").status_code == 404


def test_a_missing_variable_is_a_503_naming_it(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLOB_READ_WRITE_TOKEN")
    res = httpx.post(served + "/api/webhook", content=b"{}")
    assert res.status_code == 503 and "not configured: BLOB_READ_WRITE_TOKEN" in res.text


def test_a_button_made_project_says_what_to_run(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the clone flow leaves (only WATCHER_PUBKEY set): 503 naming the two variables
    and the command that sets them; never a value."""
    secret = os.environ["ROOT_SECRET"]
    monkeypatch.delenv("ROOT_SECRET")
    monkeypatch.delenv("WALLET_ID")
    res = httpx.post(served + "/api/webhook", content=b"{}")
    message = res.json()["message"]
    assert res.status_code == 503
    assert "ROOT_SECRET, WALLET_ID not set" in message and "nwc-signer deploy vercel" in message
    assert secret not in res.text


def test_the_loader_wants_a_handler_class(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "webhook.py").write_text("app = object()\n")
    with pytest.raises(SystemExit, match='missing variable "handler"'):
        load_handler(tmp_path)


def test_the_deployed_layout_imports_only_signer_core_and_its_pins(project: Path) -> None:
    """In a fresh interpreter, from the project folder as the runtime runs it: signer_core
    comes from the project (not the repo), and nothing of the CLI, the other entry points
    or a cloud SDK is needed."""
    code = (
        "import sys; from nwc_signer.dev.vercel import load_handler; load_handler('.');"
        "import signer_core, json;"
        "bad=sorted({m.split('.')[0] for m in sys.modules} & {'functions','boto3','botocore',"
        "'aws_lambda_powertools','fastapi','uvicorn','relay_watcher','deploy'});"
        "print(json.dumps([signer_core.__file__, bad]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                          timeout=120, check=True)  # fmt: skip
    where, bad = json.loads(done.stdout)
    assert Path(where).resolve().is_relative_to(project.resolve()) and bad == []


def test_spark_runs_through_the_vercel_entry(tmp_path: Path) -> None:
    """A Spark wallet (the real breez-sdk-spark, regtest, offline) served by the project in
    its own interpreter, its state in the fake Blob store: get_info and get_balance answer."""
    code, out, err = run_cli(
        "wallet", "create", "--data-dir", str(tmp_path / "w"), "--backend", "spark",
        "--network", "regtest", "--relay", "ws://127.0.0.1:1",
    )  # fmt: skip
    assert code == 0, err
    phrase = out.split("Recovery phrase")[1].splitlines()[1].strip()
    remember_secret(phrase)
    remember_secret((tmp_path / "w" / "secrets" / "root.key").read_text().strip())
    watcher = bytes.fromhex((tmp_path / "w" / "secrets" / "watcher.key").read_text().strip())
    remember_secret(watcher.hex())
    local = LocalWallet(tmp_path / "w", watcher, phrase)
    local.remember_keys()
    app: App = local.add_app()
    with VercelHost(local.path, tmp_path / "vercel") as host, httpx.Client(timeout=120) as http:
        remember_secret(host.fake.token)
        host.mirror().push()

        def call(method: str) -> dict[str, object]:
            headers, body = signed_delivery(
                request_delivery(app.request(method), ["ws://127.0.0.1:1"]),
                watcher,
                int(time.time()),
            )
            res = http.post(host.url + "/api/webhook", content=body, headers=headers)
            answer = parse_response(res.status_code, res.headers, res.content)
            assert answer.status == 200, (method, answer.status, answer.message)
            (reply,) = [e for e in answer.events if e["kind"] == 23195]
            return app.read(reply)

        info = call("get_info")["result"]
        assert isinstance(info, dict) and info["network"] == "regtest"
        balance = call("get_balance")["result"]
        assert isinstance(balance, dict) and balance["balance"] == 0
        assert host.fake.blobs[host.state_pathname].body  # the state lives in the Blob store
