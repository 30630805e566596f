"""The `nwc-signer` command line: wallet and connection administration, local serving.

Sits on top of every part (signer_core, functions, later relay_watcher and deploy), so
nothing imports it. argparse keeps start-up cheap; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_RELAYS = ["wss://relay.getalby.com/v1"]


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _open_admin(data_dir: str) -> tuple[Any, Any, Any]:
    from functions.local.datadir import DataDir
    from signer_core.session import StateSession

    folder = DataDir(data_dir)
    cfg = folder.config()
    session = StateSession.read(folder.store(), folder.guard(), folder.secrets(), cfg.wallet_id)
    session.open_as_admin()
    return folder, cfg, session


def cmd_wallet_create(args: argparse.Namespace) -> int:
    from functions.local.datadir import DataDir, LocalConfig
    from signer_core.admin import new_wallet_state
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey
    from signer_core.session import Secrets, create_wallet

    folder = DataDir(args.data_dir)
    if folder.exists():
        raise CliError(f"{args.data_dir} already holds a wallet")
    if args.backend == "cashu":
        if not args.mint_url:
            raise CliError("--mint-url is required for the cashu backend")
        from signer_core.wallets.cashu.wallet import CashuWallet

        backend_data = CashuWallet.create_data(args.mint_url)
    elif args.backend != "spark":
        raise CliError(f"backend {args.backend!r} is not available yet")
    now = int(time.time())
    state = new_wallet_state(backend=args.backend, backend_data={}, now=now)
    wallet_config: dict[str, Any] = {}
    if args.backend == "spark":
        from signer_core.wallets.spark.setup import create_spark_data

        wallet_config = create_spark_data(folder.path, state, args.network, now)
    else:
        state.backend_data = backend_data
    root = generate_private_key()
    watcher_secret = None
    watcher_pubkey = args.watcher_pubkey
    if watcher_pubkey is None:  # a local watcher key, for `nwc-signer dev` and tests
        watcher_secret = generate_private_key()
        watcher_pubkey = xonly_pubkey(watcher_secret).hex()
    config = LocalConfig(
        wallet_id=state.wallet_id,
        backend=args.backend,
        watcher_pubkey=watcher_pubkey,
        relays=args.relay or list(DEFAULT_RELAYS),
        wallet_config=wallet_config,
    )
    folder.init(config, root, watcher_secret)
    create_wallet(folder.store(), folder.guard(), Secrets(root), state)
    print(f"created {args.backend} wallet {state.wallet_id} in {args.data_dir}")
    if not args.quiet:
        print("\nRecovery phrase (shown once; write it down, it restores the wallet's funds):")
        print(f"  {state.mnemonic}\n")
    return 0


def cmd_connection_add(args: argparse.Namespace) -> int:
    from signer_core.admin import add_connection

    folder, cfg, session = _open_admin(args.data_dir)
    methods = None
    if args.methods:
        methods = [m for part in args.methods for m in part.replace(",", " ").split()]
    try:
        conn, uri = add_connection(
            session.state,
            root_secret=session.secrets.root_secret,
            name=args.name,
            relays=args.relay or cfg.relays,
            now=int(time.time()),
            methods=methods,
            budget_msat=args.budget_sats * 1000 if args.budget_sats is not None else None,
            renewal=args.budget_renewal,
            expires_at=args.expires_at,
            lud16=args.lud16,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    session.commit()
    print(f"added connection {conn.name!r} ({conn.id})", file=sys.stderr)
    print(str(uri))
    if not args.no_qr:
        import segno

        segno.make(str(uri), error="L").terminal(compact=True)
    return 0


def cmd_connection_list(args: argparse.Namespace) -> int:
    _, _, session = _open_admin(args.data_dir)
    conns = list(session.state.connections.values())
    if not conns:
        print("no connections; add one with `nwc-signer connection add`")
    for c in conns:
        budget = f"{c.budget.max_msat // 1000} sat/{c.budget.renewal}" if c.budget else "no budget"
        expires = time.strftime("%Y-%m-%d", time.gmtime(c.expires_at)) if c.expires_at else "never"
        print(
            f"{c.id}  {c.name}  pubkey={c.service_pubkey}  {budget}  expires={expires}  "
            f"methods={','.join(c.methods)}"
        )
    return 0


def cmd_connection_revoke(args: argparse.Namespace) -> int:
    from signer_core.admin import revoke_connection

    _, _, session = _open_admin(args.data_dir)
    try:
        conn = revoke_connection(session.state, args.connection)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    session.commit(rotate_key=True)
    print(f"revoked {conn.name!r} ({conn.id}); the wallet's data key was rotated")
    return 0


def cmd_function_serve(args: argparse.Namespace) -> int:
    from functions.local.server import serve

    serve(args.data_dir, args.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nwc-signer", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    top = parser.add_subparsers(dest="command", required=True)

    wallet = top.add_parser("wallet", help="create and inspect wallets").add_subparsers(
        dest="action", required=True
    )
    create = wallet.add_parser("create", help="create a new wallet in a data folder")
    create.add_argument("--data-dir", required=True)
    create.add_argument("--backend", choices=["cashu", "spark"], default="cashu")
    create.add_argument("--mint-url", help="Cashu mint URL (cashu backend)")
    create.add_argument(
        "--network", choices=["regtest", "mainnet"], default="regtest", help="spark backend"
    )
    create.add_argument("--relay", action="append", help="relay for connections (repeatable)")
    create.add_argument("--watcher-pubkey", help="the relay-watcher's public key (hex)")
    create.add_argument("--quiet", action="store_true", help="do not print the recovery phrase")
    create.set_defaults(func=cmd_wallet_create)

    conn = top.add_parser("connection", help="manage NWC connections").add_subparsers(
        dest="action", required=True
    )
    add = conn.add_parser("add", help="add a connection and print its URI")
    add.add_argument("--data-dir", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--methods", nargs="+", help="allowed methods (default: all)")
    add.add_argument("--budget-sats", type=int)
    add.add_argument(
        "--budget-renewal",
        choices=["daily", "weekly", "monthly", "yearly", "never"],
        default="monthly",
    )
    add.add_argument("--expires-at", type=int, help="unix time the connection stops working")
    add.add_argument("--relay", action="append", help="override the wallet's relays")
    add.add_argument("--lud16", help="lightning address to put in the URI")
    add.add_argument("--no-qr", action="store_true", help="do not print a QR code")
    add.set_defaults(func=cmd_connection_add)
    lst = conn.add_parser("list", help="list connections")
    lst.add_argument("--data-dir", required=True)
    lst.set_defaults(func=cmd_connection_list)
    rev = conn.add_parser("revoke", help="revoke a connection (rotates the data key)")
    rev.add_argument("--data-dir", required=True)
    rev.add_argument("connection", help="connection id, name or wallet-service pubkey")
    rev.set_defaults(func=cmd_connection_revoke)

    fn = top.add_parser("function", help="run the signer function").add_subparsers(
        dest="action", required=True
    )
    srv = fn.add_parser("serve", help="serve the webhook over HTTP")
    srv.add_argument("--data-dir", required=True)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8787)
    srv.set_defaults(func=cmd_function_serve)

    from nwc_signer.dev import add_parser as add_dev

    add_dev(top)
    __import__("deploy.aws.cli").aws.cli.add_parser(top)  # nwc-signer deploy aws ...
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from functions.local.datadir import DataDirError
    from signer_core.session import NoWallet
    from signer_core.vault.sealed import VaultError
    from signer_core.wallets.spark.setup import SetupError

    try:
        code: int = args.func(args)
    except (CliError, DataDirError, NoWallet, VaultError, SetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
