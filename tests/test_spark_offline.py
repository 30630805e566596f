"""What the real breez-sdk-spark does offline, for real: build in server mode from a
mnemonic, derive the identity and Spark address, keep its storage folder through the sealed
state, and fail within a bounded time when the operators cannot be reached. Plus the whole
pipeline (CLI wallet -> signed webhook -> reply) with the SDK double in place of connect()."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import breez_sdk_spark as b
import pytest

from signer_core.protocol.errors import ErrorCode, NwcError
from signer_core.wallets.base import WalletEnv
from signer_core.wallets.spark import storage
from signer_core.wallets.spark.wallet import SparkWallet
from tests.nwc import LocalWallet, remember_secret, run_cli
from tests.spark_double import FakeSpark, make_bolt11

PHRASE = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def env(now: int = 0, timeout: float = 10.0, **config: Any) -> WalletEnv:
    return WalletEnv(seed=b"", now=now or int(time.time()), http_timeout=timeout,
                     config=config, mnemonic=PHRASE)  # fmt: skip


def test_real_sdk_derives_a_stable_identity_offline() -> None:
    first = SparkWallet.create_data("regtest", mnemonic=PHRASE)
    again = SparkWallet.create_data("regtest", mnemonic=PHRASE)
    assert first["identity_pubkey"] == again["identity_pubkey"]
    assert len(first["identity_pubkey"]) == 66 and first["spark_address"].startswith("sparkrt1")
    record = first["storage"]
    assert record["format"] == "tar+zlib" and record["size"] > len(record["b64"]) * 10
    wallet = SparkWallet(json.loads(json.dumps(first)), env())
    try:
        assert wallet.get_balance_msat() == 0  # restored folder, offline read
        assert wallet.list_transactions(from_time=None, until=None, limit=5, offset=0,
                                        unpaid=True, tx_type=None) == []  # fmt: skip
        assert wallet.get_info()["spark_address"] == first["spark_address"]
    finally:
        wallet.close()


def test_storage_round_trip_is_exact_and_safe(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "regtest" / "abc").mkdir(parents=True)
    (src / "regtest" / "abc" / "storage.sql").write_bytes(b"\x00sqlite" * 1000)
    record = storage.pack(src)
    assert storage.digest(src) == record["sha256"]
    dst = tmp_path / "dst"
    storage.unpack(record, dst)
    assert (dst / "regtest" / "abc" / "storage.sql").read_bytes() == b"\x00sqlite" * 1000
    assert (dst / "regtest" / "abc" / "storage.sql").stat().st_mode & 0o777 == 0o600
    assert storage.pack(dst) == record  # deterministic: same folder, same bytes
    bad = dict(record, sha256="00" * 32)
    with pytest.raises(storage.StorageCorrupt):
        storage.unpack(bad, tmp_path / "x")


def test_mainnet_without_api_key_fails_before_any_io() -> None:
    start = time.monotonic()
    with pytest.raises(NwcError) as exc:
        SparkWallet.create_data("mainnet", mnemonic=PHRASE)
    assert exc.value.code == ErrorCode.INTERNAL and "API key" in exc.value.message
    bogus = "Ym9ndXNib2d1cw=="
    remember_secret(bogus)
    with pytest.raises(NwcError) as exc:
        SparkWallet.create_data("mainnet", mnemonic=PHRASE, config={"breez_api_key": bogus})
    assert "not accepted" in exc.value.message and bogus not in exc.value.message
    assert time.monotonic() - start < 5


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts and never answers: operators that hang."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_real_sdk_unreachable_operators_fail_fast_with_a_clear_error() -> None:
    data = SparkWallet.create_data("regtest", mnemonic=PHRASE)
    wallet = SparkWallet(data, env(timeout=5))
    start = time.monotonic()
    with pytest.raises(NwcError) as exc:  # no DNS here: the SDK fails at once
        wallet.make_invoice(amount_msat=5000, description="x", description_hash=None,
                            expiry=None, metadata=None)  # fmt: skip
    assert exc.value.code == ErrorCode.INTERNAL and "unreachable" in exc.value.message
    with pytest.raises(NwcError) as exc:
        wallet.prepare_payment(invoice=make_bolt11(5000)[0], amount_msat=None, request_id="a" * 64)
    assert "unreachable" in exc.value.message
    assert time.monotonic() - start < 5
    wallet.close()


def test_real_sdk_hanging_operators_cost_only_the_time_limit(silent_server: str) -> None:
    async def connect(request: Any) -> Any:
        request.config.spark_config.ssp_config.base_url = silent_server
        return await b.connect(request)

    data = SparkWallet.create_data("regtest", mnemonic=PHRASE)
    wallet = SparkWallet(data, env(timeout=1.0), connect=connect)
    start = time.monotonic()
    with pytest.raises(NwcError) as exc:
        wallet.make_invoice(amount_msat=5000, description="x", description_hash=None,
                            expiry=None, metadata=None)  # fmt: skip
    elapsed = time.monotonic() - start
    assert "did not answer within 1 s" in exc.value.message, exc.value.message
    assert elapsed < 1.0 + 5.5  # the limit, plus the bounded disconnect at worst
    assert wallet.get_balance_msat() == 0  # the wallet still works after a timeout
    wallet.close()


def test_pipeline_end_to_end_with_the_double(tmp_path: Path, monkeypatch: Any) -> None:
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
    fake = FakeSpark()
    monkeypatch.setattr(b, "connect", fake.connect)
    app = local.add_app()

    info = local.call(app, "get_info")["result"]
    assert info["network"] == "regtest" and "pay_invoice" in info["methods"]
    made = local.call(app, "make_invoice", {"amount": 50_000, "description": "tip"})["result"]
    fake.pay_in(made["invoice"])
    woke = local.wake()
    notes = [e for e in woke.events if e["kind"] == 23197]
    assert notes and app.read(notes[0])["notification"]["payment_hash"] == made["payment_hash"]
    assert local.call(app, "get_balance")["result"]["balance"] == 50_000

    bolt11, _ = make_bolt11(10_000)
    fake.lose_send_answer = True
    event = app.request("pay_invoice", {"invoice": bolt11})
    assert local.deliver(event).status == 409  # outcome unknown: the claim stays
    fake.lose_send_answer = False
    again = local.deliver(event, attempt=2)  # reconciled by the idempotency key, not resent
    reply = app.read([e for e in again.events if e["kind"] == 23195][0])
    assert reply["result"] == {"preimage": "cd" * 32, "fees_paid": 2000}
    assert fake.sends == 1 and local.call(app, "get_balance")["result"]["balance"] == 38_000
    listed = local.call(app, "list_transactions", {})["result"]["transactions"]
    assert [t["type"] for t in listed] == ["outgoing", "incoming"]
