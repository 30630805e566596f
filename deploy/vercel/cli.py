"""`nwc-signer deploy vercel`: the CPython signer as a Vercel project, its state in Vercel Blob."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deploy.common import add_wallet_options, missing_data_dir

TOKEN_ENV = "VERCEL_TOKEN"  # noqa: S105 (a variable name; the official CLI's too)


def add_parser(dep: Any) -> None:
    vc = dep.add_parser(
        "vercel",
        help="Vercel (CPython function, Vercel Blob state; Spark runs there)",
        description="Assemble the project's files, create the Vercel project, create the "
        "wallet locally (Spark by default, Cashu with --backend cashu), set the project's "
        "environment (ROOT_SECRET as a sensitive variable), create and connect a private "
        "Blob store, write the first sealed state there, upload the files and deploy to "
        "production, register it with the watcher and print the connection URI. Safe to "
        f"run again (re-deploys the code). The access token comes from ${TOKEN_ENV} or "
        "--token-file.",
    )
    vc.add_argument(
        "action",
        nargs="?",
        default="deploy",
        choices=["deploy", "bundle"],
        help="deploy (default), or bundle: assemble the files and report their size and hash",
    )
    vc.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the wallet's local folder: seed and root secret stay there, 0600 "
        "(required for deploy)",
    )
    vc.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"file holding the access token (default: ${TOKEN_ENV})",
    )
    vc.add_argument(
        "--team",
        default="",
        help="a team's id (team_...) to deploy into (default: your own account)",
    )
    vc.add_argument(
        "--project",
        default="nwc-signer",
        help="the project's name, also its host <project>.vercel.app (default: %(default)s)",
    )
    vc.add_argument(
        "--backend",
        default="spark",
        choices=["spark", "cashu"],
        help="wallet backend when the wallet is created (default: %(default)s; "
        "spark needs $BREEZ_API_KEY on mainnet)",
    )
    vc.add_argument(
        "--network",
        default="mainnet",
        choices=["mainnet", "regtest"],
        help="spark backend: the network (default: %(default)s)",
    )
    vc.add_argument(
        "--mint-url", default="", help="the Cashu mint's URL (required with --backend cashu)"
    )
    vc.add_argument(
        "--region", default="iad1", help="the Blob store's region (default: %(default)s)"
    )
    vc.add_argument(
        "--out",
        default="build/vercel",
        help="folder the files are assembled in (default: %(default)s)",
    )
    vc.add_argument(
        "--print-hash",
        action="store_true",
        help="print the hash of the exact files uploaded (bundle: only the hash)",
    )
    add_wallet_options(vc)
    vc.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str:
    from deploy.common import read_token

    return read_token(args.token_file, TOKEN_ENV, "access token")


def run(args: argparse.Namespace) -> int:
    from deploy.vercel import bundle

    if args.action == "bundle":
        try:
            built = bundle.build(Path(args.out))
        except bundle.BundleError as exc:
            print(f"nwc-signer: {exc}", file=sys.stderr)
            return 2
        print(built.digest if args.print_hash else built.report())
        return 0
    if missing_data_dir(args.data_dir):
        return 2
    from deploy.common import announce_registration, print_result
    from deploy.vercel.api import Api, VercelError
    from deploy.vercel.setup import Target, register
    from deploy.vercel.steps import deploy
    from nwc_signer.wallet import WalletSetupError

    target = Target(
        data_dir=Path(args.data_dir),
        project=args.project,
        backend=args.backend,
        network=args.network,
        mint_url=args.mint_url,
        watcher_pubkey=args.watcher_pubkey,
        watcher_url=args.watcher_url or "",  # a Spark wallet's Breez hook URL (https only)
        relays=[r for r in args.relays.split(",") if r],
        region=args.region,
        out_dir=Path(args.out),
    )
    api = Api(_token(args), team=args.team)
    try:
        done = deploy(api, target)
        answer = register(target, args.watcher_url, done.url) if args.watcher_url else None
        announce_registration(answer, args.watcher_url, "function")
    except (VercelError, bundle.BundleError, WalletSetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    finally:
        api.close()
    if args.print_hash:
        print(f"bundle hash: {done.digest}")
    print_result("function URL", done.url, done.uri, qr=not args.no_qr)
    return 0
