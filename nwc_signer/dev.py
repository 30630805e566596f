"""`nwc-signer dev`: the whole system on loopback, in one command.

Starts a Nostr relay (nostr-sdk's in-process LocalRelay on --relay-port; `--relay URL` uses
outside relays instead), the local test mint (`--mint-url` uses another), the signer function
(`--runtime`, `--cold`) and the relay-watcher (a child process signing with the folder's
secrets/watcher.key); creates the wallet in --data-dir if it is new, registers its connection
keys with the watcher (again whenever connections change), funds it (`--fund SATS`), prints
each new connection URI, and runs until SIGINT/SIGTERM, then stops everything it started.

The dev mint keeps its database and private key inside the data folder, so a restart on
the same folder keeps the wallet's ecash valid (a new mint key would orphan the proofs).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from types import FrameType

from nwc_signer.devstack import local_runtime

DEV_MINT_PORT = 3338
DEV_RELAY_PORT = 7777
DEV_WATCHER_PORT = 8790
FUND_URI_FILE = "dev-connection.uri"


# Function runtimes: name -> (data_dir, port, cold) -> context manager yielding the URL the
# watcher posts to. The AWS runtime registers "lambda" here (one line).
def lambda_runtime(data_dir: Path, port: int, cold: bool) -> ContextManager[str]:
    """The real Lambda handler behind a Function-URL emulator on moto_server (imported
    only when chosen: it pulls boto3 and moto)."""
    from nwc_signer.devaws import lambda_runtime as runtime

    return runtime(data_dir, port, cold)


FUNCTION_RUNTIMES: dict[str, Callable[[Path, int, bool], ContextManager[str]]] = {
    "local": local_runtime,
    "lambda": lambda_runtime,
}


def start_function_runtime(
    kind: str, data_dir: Path, port: int, *, cold: bool = False
) -> ContextManager[str]:
    try:
        factory = FUNCTION_RUNTIMES[kind]
    except KeyError:
        raise SystemExit(f"nwc-signer dev: unknown runtime {kind!r}") from None
    return factory(data_dir, port, cold)


def wallet_create_args(backend: str, mint_url: str | None) -> list[str]:
    """The one place the wallet backend is chosen (`wallet create` arguments)."""
    if backend == "cashu":
        return ["--backend", "cashu", "--mint-url", str(mint_url)]
    if backend == "spark":  # offline-capable on regtest; mainnet needs $BREEZ_API_KEY
        return ["--backend", "spark", "--network", "regtest"]
    raise SystemExit(f"nwc-signer dev: backend {backend!r} is not available in dev yet")


def backend_needs_mint(backend: str) -> bool:
    return backend == "cashu"


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _dev_mint(data_dir: Path, port: int) -> Iterator[str]:
    from nwc_signer.devmint import DevMint

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
    from nwc_signer.devrelay import InProcessRelay

    _say(f"starting the local relay on ws://127.0.0.1:{port} (nostr-sdk LocalRelay)")
    with InProcessRelay(port) as relay:
        yield relay.url


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _create_wallet(data_dir: Path, args: argparse.Namespace, mint_url: str | None,
                   relays: list[str]) -> None:  # fmt: skip
    from nwc_signer.harness import run_cli

    _say(f"creating a new {args.backend} wallet in {data_dir}")
    create = ["wallet", "create", "--data-dir", str(data_dir)]
    create += wallet_create_args(args.backend, mint_url)
    for relay in relays:
        create += ["--relay", relay]
    code, out, err = run_cli(*create)
    if code != 0:
        raise SystemExit(err.strip())
    print(out, end="")
    code, out, err = run_cli("connection", "add", "--data-dir", str(data_dir), "--name", "dev")
    if code != 0:
        raise SystemExit(err.strip())
    print(err, end="", file=sys.stderr)
    print(out, end="", flush=True)
    uri = next(line for line in out.splitlines() if line.startswith("nostr+walletconnect://"))
    path = data_dir / "secrets" / FUND_URI_FILE  # for --fund on later runs (dev folders only)
    path.write_text(uri + "\n")
    path.chmod(0o600)


def _fund(data_dir: Path, sats: int) -> None:
    from nwc_signer.harness import LocalWallet
    from nwc_signer.nwc_app import NwcApp

    uri_file = data_dir / "secrets" / FUND_URI_FILE
    if not uri_file.exists():
        _say("--fund needs the dev connection made by `nwc-signer dev`; skipped")
        return
    watcher_secret = bytes.fromhex((data_dir / "secrets" / "watcher.key").read_text().strip())
    wallet = LocalWallet(data_dir, watcher_secret)
    app = NwcApp.from_uri(uri_file.read_text().strip())
    _say(f"funding the wallet with {sats} sat from the test mint")
    wallet.fund(app, sats)
    balance = wallet.call(app, "get_balance")["result"]["balance"] // 1000
    _say(f"wallet balance: {balance} sat")


def run(args: argparse.Namespace) -> int:
    from functions.local.datadir import DataDir
    from nwc_signer.devstack import ConnectionWatch, WatcherProcess, register_wallet

    data_dir = Path(args.data_dir)
    _stop_on_sigterm()
    try:
        with contextlib.ExitStack() as stack:
            relays = list(args.relay or [])
            if not relays:
                relays = [stack.enter_context(_dev_relay(args.relay_port))]
            mint_url = args.mint_url
            if backend_needs_mint(args.backend) and not mint_url:
                mint_url = stack.enter_context(_dev_mint(data_dir, args.mint_port))
            if not DataDir(data_dir).exists():
                _create_wallet(data_dir, args, mint_url, relays)
            else:
                _say(f"reusing the wallet in {data_dir} (connection URIs were printed when added)")
                wallet_relays = DataDir(data_dir).config().relays
                if set(wallet_relays) != set(relays):
                    _say(f"note: the wallet's connections use {', '.join(wallet_relays)}")
                    relays = list(dict.fromkeys([*relays, *wallet_relays]))
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
            if args.fund:
                _fund(data_dir, args.fund)
            _say("ready: paste the connection URI into an NWC app (Ctrl-C stops)")
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    _say("stopped")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dev = sub.add_parser(
        "dev", help="run the whole stack locally: relay + test mint + watcher + function"
    )
    dev.add_argument("--data-dir", default="./.nwc-dev")
    dev.add_argument("--backend", default="cashu", help="wallet backend for a new wallet")
    dev.add_argument("--mint-url", help="use this mint instead of starting the local test mint")
    dev.add_argument("--mint-port", type=int, default=DEV_MINT_PORT)
    dev.add_argument("--relay", action="append", help="use this outside relay (repeatable)")
    dev.add_argument("--relay-port", type=int, default=DEV_RELAY_PORT)
    dev.add_argument("--port", type=int, default=8787, help="the function's HTTP port")
    dev.add_argument("--watcher-port", type=int, default=DEV_WATCHER_PORT)
    dev.add_argument("--runtime", default="local", choices=sorted(FUNCTION_RUNTIMES))
    dev.add_argument("--cold", action="store_true", help="every request in a fresh interpreter")
    dev.add_argument("--fund", type=int, default=0, metavar="SATS", help="mint SATS into it")
    dev.set_defaults(func=run)
