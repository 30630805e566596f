"""The `nwc-signer` command line: wallet and connection administration, local serving.

Sits on top of every part (signer_core, functions, relay_watcher, deploy), so nothing of
the product imports it. Wallets and connections are made by nwc_signer/wallet.py, the dev
stack lives in nwc_signer/dev/. argparse keeps start-up cheap; each command imports what
it needs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

DATA_DIR_HELP = "the wallet's data folder (required)"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def cmd_wallet_create(args: argparse.Namespace) -> int:
    from nwc_signer.wallet import create_local_wallet, print_new_wallet

    made = create_local_wallet(
        args.data_dir,
        backend=args.backend,
        mint_url=args.mint_url,
        network=args.network,
        relays=args.relay,
        watcher_pubkey=args.watcher_pubkey,
    )
    print_new_wallet(made, quiet=args.quiet)
    return 0


def cmd_connection_add(args: argparse.Namespace) -> int:
    from nwc_signer.wallet import connection_from_args, print_uri

    conn = connection_from_args(args.data_dir, args.name, args)
    print(f"added connection {conn.name!r} ({conn.id})", file=sys.stderr)
    print_uri(conn.uri, qr=not args.no_qr)
    return 0


def cmd_connection_list(args: argparse.Namespace) -> int:
    from nwc_signer.wallet import open_admin

    session = open_admin(args.data_dir)
    conns = list(session.state.connections.values())
    if not conns:
        print("no connections; add one with `nwc-signer connection add`")
    for c in conns:
        budget = f"{c.budget.max_msat // 1000} sat/{c.budget.renewal}" if c.budget else "no budget"
        expires = time.strftime("%Y-%m-%d", time.gmtime(c.expires_at)) if c.expires_at else "never"
        print(
            f"{c.id}  {c.name}{'  ADMIN' if c.admin else ''}  pubkey={c.service_pubkey}  "
            f"{budget}  expires={expires}  methods={','.join(c.methods)}"
        )
    return 0


def cmd_connection_revoke(args: argparse.Namespace) -> int:
    from nwc_signer.wallet import open_admin
    from signer_core.admin import revoke_connection

    session = open_admin(args.data_dir)
    try:
        conn = revoke_connection(session.state, args.connection)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    session.commit(rotate_key=True)
    print(f"revoked {conn.name!r} ({conn.id}); the wallet's data key was rotated")
    return 0


def cmd_connection_approve(args: argparse.Namespace) -> int:
    from nwc_signer.connections import ApproveError, approve_command

    try:
        return approve_command(args)
    except ApproveError as exc:
        raise CliError(str(exc)) from None


def cmd_function_serve(args: argparse.Namespace) -> int:
    from functions.local.server import serve

    serve(args.data_dir, args.host, args.port)
    return 0


def add_approve_parser(conn: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`connection approve`: an app's nostr+walletauth:// or nostrnwc:// request."""
    from nwc_signer.wallet import RENEWALS

    app = conn.add_parser(
        "approve", help="approve an app's connection request (nostr+walletauth://, nostrnwc://)",
        description="Show what an app asks for (methods, budget, expiry, relays), ask, and "
        "create the connection: in a local wallet folder (--data-dir) or in a deployed wallet "
        "through its admin connection (--admin-uri, or $NWC_ADMIN_URI). docs/app-connections.md",
    )  # fmt: skip
    app.add_argument("uri", help="the app's request: nostr+walletauth://… or nostrnwc://connect?…")
    app.add_argument("--data-dir", metavar="DIR", help="a local wallet folder")
    app.add_argument(
        "--admin-uri", metavar="URI",
        help="a deployed wallet's admin connection (nwc-signer connection add --admin); "
        "default: $NWC_ADMIN_URI",
    )  # fmt: skip
    app.add_argument("--yes", action="store_true", help="approve without asking (default: ask)")
    app.add_argument(
        "--open", action="store_true",
        help="open the app's return address once the connection exists (default: print it)",
    )  # fmt: skip
    app.add_argument(
        "--budget-sats", type=int, metavar="SATS",
        help="nostrnwc:// links only (they ask no budget): most the app may spend per period "
        "(default: no budget)",
    )  # fmt: skip
    app.add_argument(
        "--budget-renewal", choices=RENEWALS, default="monthly",
        help="with --budget-sats: when the budget starts again (default: %(default)s)",
    )  # fmt: skip
    app.add_argument(
        "--timeout", type=float, default=60.0, metavar="S",
        help="--admin-uri: seconds to wait for the wallet's answer (default: %(default)s)",
    )  # fmt: skip
    app.add_argument(
        "--no-qr", action="store_true", help="print a new URI without its QR code (default: with)"
    )
    app.set_defaults(func=cmd_connection_approve)


def build_parser() -> argparse.ArgumentParser:
    from nwc_signer.dev.command import add_parser as add_dev
    from nwc_signer.wallet import BACKENDS, NETWORKS, add_connection_options

    parser = argparse.ArgumentParser(prog="nwc-signer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level (default: info)"
    )
    top = parser.add_subparsers(dest="command", required=True)

    wallet = top.add_parser("wallet", help="create and inspect wallets").add_subparsers(
        dest="action", required=True
    )
    create = wallet.add_parser("create", help="create a new wallet in a data folder")
    create.add_argument("--data-dir", required=True, metavar="DIR", help=DATA_DIR_HELP)
    create.add_argument(
        "--backend",
        choices=BACKENDS,
        default="cashu",
        help="where the money is kept (default: %(default)s)",
    )
    create.add_argument(
        "--mint-url", metavar="URL", help="cashu backend: the mint's URL (required for cashu)"
    )
    create.add_argument(
        "--network",
        choices=NETWORKS,
        default="regtest",
        help="spark backend: the network; mainnet needs $BREEZ_API_KEY (default: %(default)s)",
    )
    create.add_argument(
        "--relay",
        action="append",
        metavar="URL",
        help="relay for the wallet's connections, repeatable (default: wss://relay.getalby.com/v1)",
    )
    create.add_argument(
        "--watcher-pubkey",
        metavar="HEX",
        help="the public key of the relay-watcher that will wake the function "
        "(default: make a local watcher key, for `nwc-signer dev`)",
    )
    create.add_argument(
        "--quiet",
        action="store_true",
        help="do not print the recovery phrase (default: print it once)",
    )
    create.set_defaults(func=cmd_wallet_create)
    __import__("nwc_signer.lightning_address").lightning_address.add_parser(wallet)  # lud16

    conn = top.add_parser("connection", help="manage NWC connections").add_subparsers(
        dest="action", required=True
    )
    add = conn.add_parser("add", help="add a connection and print its URI")
    add.add_argument("--data-dir", required=True, metavar="DIR", help=DATA_DIR_HELP)
    add.add_argument("--name", required=True, help="a name to recognise the app by")
    add_connection_options(add)
    add.add_argument(
        "--no-qr", action="store_true", help="print the URI without its QR code (default: with)"
    )
    add.set_defaults(func=cmd_connection_add)
    lst = conn.add_parser("list", help="list connections")
    lst.add_argument("--data-dir", required=True, metavar="DIR", help=DATA_DIR_HELP)
    lst.set_defaults(func=cmd_connection_list)
    rev = conn.add_parser("revoke", help="revoke a connection (rotates the data key)")
    rev.add_argument("--data-dir", required=True, metavar="DIR", help=DATA_DIR_HELP)
    rev.add_argument("connection", help="connection id, name or wallet-service pubkey")
    rev.set_defaults(func=cmd_connection_revoke)
    add_approve_parser(conn)

    fn = top.add_parser("function", help="run the signer function").add_subparsers(
        dest="action", required=True
    )
    srv = fn.add_parser("serve", help="serve the webhook over HTTP")
    srv.add_argument("--data-dir", required=True, metavar="DIR", help=DATA_DIR_HELP)
    srv.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    srv.add_argument(
        "--port", type=int, default=8787, help="port to listen on (default: %(default)s)"
    )
    srv.set_defaults(func=cmd_function_serve)

    add_dev(top)
    from relay_watcher.__main__ import add_parser as add_watcher

    add_watcher(top)  # nwc-signer watcher serve|replicas|wallets|dead-letters
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
    from nwc_signer.wallet import WalletSetupError
    from signer_core.session import NoWallet
    from signer_core.vault.sealed import VaultError
    from signer_core.wallets.spark.setup import SetupError

    try:
        code: int = args.func(args)
    except (CliError, WalletSetupError, DataDirError, NoWallet, VaultError, SetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
