"""`nwc-signer dev`: a local signer on loopback, in one command.

Starts (or reuses) the local test mint, creates the wallet in --data-dir if it is new,
prints a connection URI for a new wallet, and serves the signer function until SIGINT or
SIGTERM, then stops everything it started. The relay-watcher milestone adds the relay and
the watcher to this stack.

The dev mint keeps its database and private key inside the data folder, so a restart on
the same folder keeps the wallet's ecash valid (a new mint key would orphan the proofs).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

DEV_MINT_PORT = 3338


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


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    from nwc_signer.harness import run_cli

    data_dir = Path(args.data_dir)
    _stop_on_sigterm()
    with contextlib.ExitStack() as stack:
        mint_url = args.mint_url or stack.enter_context(_dev_mint(data_dir, args.mint_port))
        from functions.local.datadir import DataDir

        if not DataDir(data_dir).exists():
            _say(f"creating a new cashu wallet in {data_dir}")
            create = ["wallet", "create", "--data-dir", str(data_dir), "--backend", "cashu"]
            create += ["--mint-url", mint_url]
            for relay in args.relay or []:
                create += ["--relay", relay]
            code, out, err = run_cli(*create)
            if code != 0:
                print(err, file=sys.stderr)
                return code
            print(out, end="")
            code, out, err = run_cli(
                "connection", "add", "--data-dir", str(data_dir), "--name", "dev"
            )
            if code != 0:
                print(err, file=sys.stderr)
                return code
            print(err, end="", file=sys.stderr)
            print(out, end="", flush=True)
        else:
            _say(f"reusing the wallet in {data_dir} (connection URIs were printed when added)")
        from functions.local.server import make_server

        server = make_server(data_dir, "127.0.0.1", args.port)
        _say(f"signer function listening on http://127.0.0.1:{args.port} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _say("stopping")
        finally:
            server.server_close()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dev = sub.add_parser("dev", help="run a local signer (test mint + function) in one command")
    dev.add_argument("--data-dir", default="./.nwc-dev")
    dev.add_argument("--mint-url", help="use this mint instead of starting the local test mint")
    dev.add_argument("--mint-port", type=int, default=DEV_MINT_PORT)
    dev.add_argument("--port", type=int, default=8787, help="the function's HTTP port")
    dev.add_argument("--relay", action="append", help="relay for new connections (repeatable)")
    dev.set_defaults(func=run)
