"""`nwc-signer dev`: the whole system on loopback, in one command.

Starts a Nostr relay (nostr-sdk's in-process LocalRelay on --relay-port; `--relay URL` uses
outside relays instead), the local test mint (`--mint-url` uses another), the signer function
(`--runtime`, `--cold`) and the relay-watcher (a child process signing with the folder's
secrets/watcher.key); creates the wallet in --data-dir if it is new, registers its connection
keys with the watcher (again whenever connections change), funds it (`--fund SATS`), and
prints the connection URI only once an NWC request sent through the relay is answered
(nwc_signer/dev/ready.py). Runs until SIGINT/SIGTERM, then stops everything it started.

The dev mint keeps its database and private key inside the data folder, so a restart on
the same folder keeps the wallet's ecash valid (a new mint key would orphan the proofs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from nwc_signer.dev.runtimes import FUNCTION_RUNTIMES, start_function_runtime
from nwc_signer.wallet import BACKENDS, NETWORKS

DEV_MINT_PORT = 3338
DEV_RELAY_PORT = 7777
DEV_FUNCTION_PORT = 8787
DEV_WATCHER_PORT = 8790
FUND_URI_FILE = "dev-connection.uri"
READY_TIMEOUT_S = 180


def backend_needs_mint(backend: str) -> bool:
    return backend == "cashu"


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def check_ports(args: argparse.Namespace) -> None:
    """Every port the stack will listen on is free; else one line: which, and the flag."""
    from nwc_signer.dev.process import port_is_free

    wanted = [(args.port, "the signer function", "--port"),
              (args.watcher_port, "the relay-watcher", "--watcher-port")]  # fmt: skip
    if not args.relay:
        wanted.insert(0, (args.relay_port, "the local relay", "--relay-port"))
    if backend_needs_mint(args.backend) and not args.mint_url:
        wanted.insert(1, (args.mint_port, "the test mint", "--mint-port"))
    seen: dict[int, str] = {}
    for port, what, flag in wanted:
        if port in seen:
            raise SystemExit(f"nwc-signer dev: {what} and {seen[port]} both want port {port}; "
                             f"move one with {flag} PORT")  # fmt: skip
        seen[port] = what
        if port and not port_is_free(port):
            raise SystemExit(f"nwc-signer dev: port {port} ({what}) is already in use on "
                             f"127.0.0.1; choose another with {flag} PORT")  # fmt: skip


@contextlib.contextmanager
def _dev_mint(data_dir: Path, port: int) -> Iterator[str]:
    from nwc_signer.dev.mint import DevMint

    folder = data_dir / "devmint"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = folder / "mint.key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    _say(f"starting the local test mint on 127.0.0.1:{port} (fake Lightning backend)")
    mint = DevMint(port=port, workdir=folder, private_key=key_file.read_text().strip())
    with mint:
        yield mint.url


@contextlib.contextmanager
def _dev_relay(port: int) -> Iterator[str]:
    from nwc_signer.dev.relay import InProcessRelay

    _say(f"starting the local relay on ws://127.0.0.1:{port} (nostr-sdk LocalRelay)")
    with InProcessRelay(port) as relay:
        yield relay.url


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _create_wallet(data_dir: Path, args: argparse.Namespace, mint_url: str | None,
                   relays: list[str]) -> str:  # fmt: skip
    """A new wallet with one connection, "dev"; returns its URI (printed once serving)."""
    from nwc_signer.wallet import (
        WalletSetupError,
        add_local_connection,
        create_local_wallet,
        print_new_wallet,
    )

    _say(f"creating a new {args.backend} wallet in {data_dir}")
    try:
        made = create_local_wallet(data_dir, backend=args.backend, mint_url=mint_url,
                                   network=args.network, relays=relays)  # fmt: skip
        conn = add_local_connection(data_dir, "dev")
    except WalletSetupError as exc:
        raise SystemExit(f"nwc-signer dev: {exc}") from None
    print_new_wallet(made, quiet=False)
    path = data_dir / "secrets" / FUND_URI_FILE  # for --fund and re-runs (dev folders only)
    path.write_text(conn.uri + "\n")
    path.chmod(0o600)
    return conn.uri


def _dev_uri(data_dir: Path) -> str | None:
    path = data_dir / "secrets" / FUND_URI_FILE
    return path.read_text().strip() if path.exists() else None


def _fund(data_dir: Path, uri: str | None, sats: int) -> None:
    from nwc_signer.dev.driver import LocalWallet
    from nwc_signer.dev.nwc_app import NwcApp

    if uri is None:
        _say("--fund needs the dev connection made by `nwc-signer dev`; skipped")
        return
    watcher_secret = bytes.fromhex((data_dir / "secrets" / "watcher.key").read_text().strip())
    wallet = LocalWallet(data_dir, watcher_secret)
    app = NwcApp.from_uri(uri)
    _say(f"funding the wallet with {sats} sat from the test mint")
    wallet.fund(app, sats)
    balance = wallet.call(app, "get_balance")["result"]["balance"] // 1000
    _say(f"wallet balance: {balance} sat")


def _wait_until_serving(uri: str | None, watcher_log: Path) -> None:
    from nwc_signer.dev.ready import NotServing, wait_until_serving

    if uri is None:  # a wallet made elsewhere: no connection of ours to ask with
        _say("no dev connection in this folder to check the stack with; not waiting")
        return
    _say("waiting until a request through the relay is answered")
    try:
        seen = wait_until_serving(uri, timeout=READY_TIMEOUT_S)
    except NotServing as exc:
        raise SystemExit(f"nwc-signer dev: {exc} (watcher log: {watcher_log})") from None
    _say(f"serving: info event on the relay, get_info answered ({seen.seconds:.1f} s)")


def run(args: argparse.Namespace) -> int:
    from functions.local.datadir import DataDir
    from nwc_signer.dev.watcher import ConnectionWatch, WatcherProcess, register_wallet
    from nwc_signer.wallet import print_uri

    data_dir = Path(args.data_dir)
    _stop_on_sigterm()
    check_ports(args)
    if not args.verbose:  # one line per HTTP call to our own watcher is noise here
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        with contextlib.ExitStack() as stack:
            relays = list(args.relay or [])
            if not relays:
                relays = [stack.enter_context(_dev_relay(args.relay_port))]
            mint_url = args.mint_url
            if backend_needs_mint(args.backend) and not mint_url:
                mint_url = stack.enter_context(_dev_mint(data_dir, args.mint_port))
            new_uri = None
            if not DataDir(data_dir).exists():
                new_uri = _create_wallet(data_dir, args, mint_url, relays)
            else:
                _say(f"reusing the wallet in {data_dir} (connection URIs were printed when added)")
                wallet_relays = DataDir(data_dir).config().relays
                if set(wallet_relays) != set(relays):
                    _say(f"note: the wallet's connections use {', '.join(wallet_relays)}")
                    relays = list(dict.fromkeys([*relays, *wallet_relays]))
            uri = new_uri or _dev_uri(data_dir)  # the readiness probe asks with it
            key_file = data_dir / "secrets" / "watcher.key"
            if not key_file.exists():
                raise SystemExit(f"{key_file} is missing: this folder's wallet was created for "
                                 "an outside watcher (--watcher-pubkey)")  # fmt: skip
            runtime = start_function_runtime(args.runtime, data_dir, args.port, cold=args.cold)
            function_url = stack.enter_context(runtime)
            mode = "cold: a fresh interpreter per request" if args.cold else "warm"
            _say(f"signer function ({args.runtime}, {mode}) on {function_url}")
            watcher = WatcherProcess(data_dir / "watcher", key_file, args.watcher_port)
            _say(f"starting the relay-watcher on {watcher.url}")
            stack.callback(watcher.stop)  # before start: a signal during start-up stops it too
            watcher.start()

            def register() -> None:
                register_wallet(data_dir, watcher.url, function_url, relays)

            register()
            _say(f"wallet registered with the watcher; listening on {', '.join(relays)}")
            stack.enter_context(ConnectionWatch(data_dir, register))
            _wait_until_serving(uri, watcher.log_path)
            if args.fund:
                _fund(data_dir, uri, args.fund)
            if new_uri is not None:  # a reused folder's URIs were printed when they were made
                print_uri(new_uri, qr=not args.no_qr)
            _say("ready: paste the connection URI into an NWC app (Ctrl-C stops)")
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    _say("stopped")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dev = sub.add_parser(
        "dev", help="run the whole stack locally: relay + test mint + watcher + function",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )  # fmt: skip
    dev.add_argument(
        "--data-dir",
        default="./.nwc-dev",
        metavar="DIR",
        help="wallet folder, created on first run (default: %(default)s)",
    )
    dev.add_argument(
        "--backend",
        default="cashu",
        choices=BACKENDS,
        help="wallet backend of a new wallet (default: %(default)s)",
    )
    dev.add_argument(
        "--network",
        default="regtest",
        choices=NETWORKS,
        help="spark backend: the network of a new wallet; mainnet needs "
        "$BREEZ_API_KEY (default: %(default)s)",
    )
    dev.add_argument(
        "--mint-url",
        metavar="URL",
        help="cashu backend: use this mint (default: start the local test mint)",
    )
    dev.add_argument(
        "--mint-port",
        type=int,
        default=DEV_MINT_PORT,
        metavar="PORT",
        help="port of the local test mint (default: %(default)s)",
    )
    dev.add_argument(
        "--relay",
        action="append",
        metavar="URL",
        help="use this outside relay instead of the local one, repeatable "
        "(default: the local relay)",
    )
    dev.add_argument(
        "--relay-port",
        type=int,
        default=DEV_RELAY_PORT,
        metavar="PORT",
        help="port of the local relay (default: %(default)s)",
    )
    dev.add_argument(
        "--port",
        type=int,
        default=DEV_FUNCTION_PORT,
        metavar="PORT",
        help="port of the signer function (default: %(default)s)",
    )
    dev.add_argument(
        "--watcher-port",
        type=int,
        default=DEV_WATCHER_PORT,
        metavar="PORT",
        help="port of the relay-watcher's API (default: %(default)s)",
    )
    dev.add_argument(
        "--runtime",
        default="local",
        choices=sorted(FUNCTION_RUNTIMES),
        help="where the function runs: local HTTP server, the real Lambda handler on "
        "moto, or the Cloudflare Worker in Pyodide over miniflare's R2 (default: %(default)s)",
    )
    dev.add_argument(
        "--cold",
        action="store_true",
        help="run every request in a fresh interpreter (a fresh Pyodide on cloudflare), "
        "as a cold start would (default: one warm process)",
    )
    dev.add_argument(
        "--fund",
        type=int,
        default=0,
        metavar="SATS",
        help="mint SATS into the wallet from the test mint at start "
        "(default: %(default)s, no funding)",
    )
    dev.add_argument(
        "--no-qr",
        action="store_true",
        help="print the connection URI without its QR code (default: with)",
    )
    dev.set_defaults(func=run)
