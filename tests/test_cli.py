"""The `nwc-signer` command line: administration commands, their errors and file modes; the
`dev` command's option checks (help texts, busy ports, the spark network)."""

from __future__ import annotations

import argparse
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nwc_signer.dev.process import REPO_ROOT, free_port
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


# -- the command line as a new user meets it -------------------------------------------------


def _options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every option and positional of `parser` and of its subcommands, with its command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def _command_tree(top: str) -> list[tuple[str, argparse.Action]]:
    from nwc_signer.cli import build_parser

    parser = build_parser()
    if top == "nwc-signer":  # the top level's own options only
        return [(p, a) for p, a in _options(parser, "nwc-signer") if p == "nwc-signer"]
    return [(p, a) for p, a in _options(parser, "nwc-signer") if p.split()[1:2] == [top]]


@pytest.mark.parametrize(
    "top",
    [
        "nwc-signer",
        "wallet",
        "connection",
        "function",
        "dev",
        "deploy",
    ],
)
def test_every_option_says_what_it_does_and_its_default(top: str) -> None:
    """Each option has help text; one with a default names it in the text (`--help`)."""
    undocumented = []
    for path, action in _command_tree(top):
        name = "/".join(action.option_strings) or action.dest
        text = action.help or ""
        if not text.strip() or text == argparse.SUPPRESS:
            undocumented.append(f"{path} {name}: no help")
            continue
        default = action.default
        has_default = action.option_strings and default not in (None, False, argparse.SUPPRESS)
        if has_default and "%(default)s" not in text and str(default) not in text:
            undocumented.append(f"{path} {name}: default {default!r} not in its help")
    assert undocumented == []


def test_dev_accepts_the_spark_network(tmp_path: Path) -> None:
    """`dev --backend spark --network mainnet` reaches wallet creation (which then asks for
    the Breez API key), and regtest is parsed too."""
    from nwc_signer.cli import build_parser

    args = build_parser().parse_args(["dev", "--backend", "spark", "--network", "regtest"])
    assert (args.backend, args.network) == ("spark", "regtest")
    env = {k: v for k, v in os.environ.items() if k != "BREEZ_API_KEY"}
    done = _dev(tmp_path / "w", "--backend", "spark", "--network", "mainnet", env=env)
    assert done.returncode != 0
    assert "Breez API key" in done.stderr and "Traceback" not in done.stderr
    assert "unrecognized arguments" not in done.stderr


PORT_FLAGS = ["--relay-port", "--mint-port", "--port", "--watcher-port"]


@pytest.mark.parametrize("busy", PORT_FLAGS)
def test_a_busy_port_is_named_with_the_flag_that_moves_it(tmp_path: Path, busy: str) -> None:
    ports = {flag: free_port() for flag in PORT_FLAGS}
    with socket.socket() as holder:  # someone else's server on that port
        holder.bind(("127.0.0.1", ports[busy]))
        holder.listen()
        done = _dev(tmp_path / "w", *[x for f, p in ports.items() for x in (f, str(p))])
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert str(ports[busy]) in last and busy in last and "in use" in last
    assert not (tmp_path / "w").exists()  # refused before anything was created


def _dev(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """`nwc-signer dev` in a child process that is expected to stop by itself."""
    ports = [] if "--port" in args else [x for f in PORT_FLAGS for x in (f, str(free_port()))]
    return subprocess.run(
        [sys.executable, "-m", "nwc_signer.cli", "dev", "--data-dir", str(data_dir), *ports,
         *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
