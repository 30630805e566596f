"""The `nwc-signer` command line: administration commands, their errors and file modes."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from signer_core.protocol.uri import parse_uri
from tests.nwc import LocalWallet, remember_secret, run_cli

pytestmark = pytest.mark.mint


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_add_list_revoke(tmp_path: Path, mint_url: str) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    assert len(wallet.mnemonic.split()) == 12
    for secret in ("root.key", "watcher.key"):
        assert mode(wallet.path / "secrets" / secret) == 0o600
    assert mode(wallet.path / "secrets") == 0o700
    assert mode(wallet.path / "config.json") == 0o600

    code, out, err = run_cli(
        "connection", "add", "--data-dir", str(wallet.path), "--name", "phone",
        "--methods", "get_balance,get_info", "pay_invoice",
        "--budget-sats", "21", "--budget-renewal", "weekly",
        "--expires-at", str(int(time.time()) + 3600), "--lud16", "me@example.com",
    )  # fmt: skip
    assert code == 0, err
    uri_line = [line for line in out.splitlines() if line.startswith("nostr+walletconnect://")]
    assert len(uri_line) == 1
    uri = parse_uri(uri_line[0])
    remember_secret(uri.secret)
    assert uri.relays == ["ws://127.0.0.1:1"] and uri.lud16 == "me@example.com"
    assert "█" in out or "▀" in out  # the terminal QR code
    assert uri.secret not in (wallet.path / "state" / "wallet.sealed").read_text(errors="ignore")

    code, listing, _ = run_cli("connection", "list", "--data-dir", str(wallet.path))
    assert code == 0
    assert "phone" in listing and "21 sat/weekly" in listing and uri.service_pubkey in listing
    assert "get_balance,get_info,pay_invoice" in listing

    code, out, _ = run_cli("connection", "revoke", "--data-dir", str(wallet.path), "phone")
    assert code == 0 and "rotated" in out
    code, listing, _ = run_cli("connection", "list", "--data-dir", str(wallet.path))
    assert "phone" not in listing and "no connections" in listing


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "steal_funds"], "unknown methods"),
        (["--budget-sats", "0"], "positive"),
        (["--expires-at", "1000"], "past"),
    ],
)
def test_connection_add_refuses_bad_input(
    tmp_path: Path, mint_url: str, args: list[str], message: str
) -> None:
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    before = (wallet.path / "state" / "wallet.sealed").read_bytes()
    code, out, err = run_cli(
        "connection", "add", "--data-dir", str(wallet.path), "--name", "x", *args
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert out == ""
    assert (wallet.path / "state" / "wallet.sealed").read_bytes() == before


def test_clear_errors_for_missing_or_existing_wallets(tmp_path: Path, mint_url: str) -> None:
    code, _, err = run_cli("connection", "list", "--data-dir", str(tmp_path / "none"))
    assert code == 2 and "holds no wallet" in err
    wallet = LocalWallet.create(tmp_path / "w", mint_url)
    code, _, err = run_cli(
        "wallet", "create", "--data-dir", str(wallet.path), "--mint-url", mint_url
    )
    assert code == 2 and "already holds a wallet" in err
    code, _, err = run_cli("connection", "revoke", "--data-dir", str(wallet.path), "nobody")
    assert code == 2 and "no connection" in err
    code, _, err = run_cli("wallet", "create", "--data-dir", str(tmp_path / "x"))
    assert code == 2 and "--mint-url" in err
