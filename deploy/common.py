"""What every `nwc-signer deploy <platform>` shares: the token, progress lines, the local
wallet, the watcher registration and the closing lines. Each platform module keeps only
its own API calls; a failure here raises the platform's own error type (``error``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Say = Callable[[str], None]
T = TypeVar("T")


def say(text: str) -> None:
    """A progress line on stderr (stdout carries the URL and the URI)."""
    print(f"==> {text}", file=sys.stderr, flush=True)


def add_wallet_options(parser: Any, *, watcher_pubkey_help: str = "") -> None:
    """The options every `deploy <platform>` shares: the watcher, the relays, the QR code."""
    parser.add_argument(
        "--watcher-pubkey",
        default="",
        help=watcher_pubkey_help or "the relay-watcher's x-only public key, 64 hex (required)",
    )
    parser.add_argument(
        "--watcher-url",
        default="",
        help="the watcher's base URL to register with (default: do not register)",
    )
    parser.add_argument(
        "--relays",
        default="wss://relay.getalby.com/v1",
        help="comma-separated relays for the connections (default: %(default)s)",
    )
    parser.add_argument("--no-qr", action="store_true", help="print the URI without its QR code")


def missing_data_dir(data_dir: str | None) -> bool:
    """True (after saying so) when a deploy was asked for without its wallet folder."""
    if data_dir:
        return False
    print("nwc-signer: --data-dir is required", file=sys.stderr)
    return True


def read_token(token_file: str | None, env_name: str, what: str = "API token") -> str:
    """The token from ``--token-file`` or ``$env_name``; a one-line exit when there is none."""
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise SystemExit(f"nwc-signer: cannot read --token-file: {exc.strerror}") from None
    else:
        token = os.environ.get(env_name, "").strip()
    if not token:
        raise SystemExit(f"nwc-signer: no {what}: set ${env_name} or pass --token-file")
    return token


def local_wallet(
    data_dir: Path,
    *,
    mint_url: str,
    relays: list[str],
    watcher_pubkey: str,
    error: type[Exception],
    backend: str = "cashu",
    network: str | None = None,
    watcher_url: str = "",
    say: Say = say,
) -> tuple[bool, str | None]:
    """Create the local wallet (Cashu by default) and its first connection unless the folder
    holds one; (created, the first connection's URI when created). A Spark wallet keeps the
    Breez webhook URL of a public ``watcher_url`` in its state (a deployed function has no
    wallet config to name it)."""
    from functions.local.datadir import DataDir
    from nwc_signer.wallet import (
        WalletSetupError,
        add_local_connection,
        create_local_wallet,
        print_new_wallet,
    )

    if DataDir(data_dir).exists():
        say(f"wallet: reusing the wallet in {data_dir}")
        return False, None
    if backend == "cashu" and not mint_url:
        raise error("--mint-url is required to create the wallet (Cashu backend)")
    try:
        made = create_local_wallet(
            data_dir,
            backend=backend,
            mint_url=mint_url or None,
            network=network or "regtest",
            relays=relays,
            watcher_pubkey=watcher_pubkey,
            watcher_url=watcher_url or None,
        )
    except WalletSetupError as exc:
        raise error(str(exc)) from None
    print_new_wallet(made, quiet=False)
    conn = add_local_connection(data_dir, "first")
    say(f"wallet: created {made.wallet_id} ({backend}) in {data_dir} "
        "(seed and root secret stay there)")  # fmt: skip
    if backend == "spark":
        say(spark_webhook_line(made.spark_webhook, watcher_url))
    return True, conn.uri


def spark_webhook_line(kept: bool, watcher_url: str) -> str:
    """What became of a new Spark wallet's Breez webhook (payments wake it at once)."""
    if kept:
        where = watcher_url.rstrip("/") + "/v1/hooks/spark/…"
        return f"spark: Breez webhook at {where} (registered on the first sync)"
    if not watcher_url:
        return "spark: no Breez webhook (no --watcher-url): payments wait for scheduled wake-ups"
    return (
        f"spark: no Breez webhook: {watcher_url} is not a public https URL, which Breez "
        "cannot reach; payments are noticed at scheduled wake-ups"
    )


def register(
    data_dir: Path, relays: list[str], watcher_url: str, function_url: str, error: type[Exception]
) -> dict[str, Any]:
    """The wallet's connection keys to the watcher, with the deployed URL as its webhook."""
    import httpx

    from nwc_signer.dev.watcher import register_wallet

    try:
        return register_wallet(data_dir, watcher_url.rstrip("/"), function_url, relays)
    except (RuntimeError, httpx.HTTPError) as exc:
        raise error(f"registering with the watcher at {watcher_url}: {exc}") from None


def announce_registration(answer: dict[str, Any] | None, watcher_url: str, what: str) -> None:
    if answer is None:
        say(f"watcher: no --watcher-url; register the {what}'s URL with your watcher")
    else:
        say(f"watcher: registered {answer.get('wallet_pubkey', '')} at {watcher_url}")


def print_result(label: str, url: str, uri: str | None, *, qr: bool) -> None:
    """The closing lines on stdout: the deployed URL and, once, the first connection."""
    from nwc_signer.wallet import print_uri

    print(f"{label}: {url}")
    if uri is not None:
        print("connection URI of the wallet's first connection (shown once):")
        print_uri(uri, qr=qr)
    else:
        print("the wallet already existed: its connections are unchanged")


def poll(
    read: Callable[[], T],
    state: Callable[[T], str],
    *,
    ready: Callable[[T], bool],
    failed: Callable[[T], str | None],
    what: str,
    error: type[Exception],
    timeout_s: float = 900.0,
    interval_s: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_state: Callable[[str], None] | None = None,
) -> T:
    """Read a build until ``ready`` (returned) or ``failed`` (its text: ``error``), telling
    ``on_state`` each new state; past ``timeout_s`` an ``error`` that says to come back."""
    deadline = clock() + timeout_s
    last = ""
    while True:
        item = read()
        now = state(item)
        if now != last and on_state is not None:
            on_state(now)
        last = now
        if ready(item):
            return item
        why = failed(item)
        if why is not None:
            raise error(f"{what} {why}")
        if clock() >= deadline:
            raise error(f"{what} still {now} after {timeout_s:.0f} s; "
                        "run the same command again later")  # fmt: skip
        sleep(interval_s)
