"""`nwc-signer deploy deno`: the Pyodide signer as a Deno Deploy app, its state in Deno KV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deploy.common import add_wallet_options, missing_data_dir

TOKEN_ENV = "DENO_DEPLOY_TOKEN"  # noqa: S105 (a variable name; the official CLI's too)


def add_parser(dep: Any) -> None:
    dn = dep.add_parser(
        "deno",
        help="Deno Deploy (Pyodide in Deno, Deno KV state)",
        description="Build the app folder, create the Deno Deploy app, create the wallet "
        "locally, set the app's environment (ROOT_SECRET as a secret), deploy a revision, "
        "seed the app's Deno KV with the sealed state, register it with the watcher and print "
        "the connection URI. Safe to run again (re-deploys the code). The organization access "
        f"token comes from ${TOKEN_ENV} or --token-file.",
    )
    dn.add_argument(
        "action",
        nargs="?",
        default="deploy",
        choices=["deploy", "bundle"],
        help="deploy (default), or bundle: build the folder and report its size",
    )
    dn.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the wallet's local folder: seed and root secret stay there, 0600 "
        "(required for deploy)",
    )
    dn.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"file holding the access token (default: ${TOKEN_ENV})",
    )
    dn.add_argument(
        "--app",
        default="nwc-signer",
        help="the app's slug, also its host <app>.<org>.deno.net (default: %(default)s)",
    )
    dn.add_argument(
        "--mint-url", default="", help="the Cashu mint's URL (required when the wallet is created)"
    )
    dn.add_argument(
        "--url", default="", help="the app's URL when not its production domain (a custom domain)"
    )
    dn.add_argument(
        "--out", default="build/deno", help="folder the bundle is built in (default: %(default)s)"
    )
    dn.add_argument(
        "--print-hash",
        action="store_true",
        help="only build the app folder and print the hash of the exact code a deploy uploads "
        "(the onboarding page shows the same hash); needs no token",
    )
    add_wallet_options(dn)
    dn.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str:
    from deploy.common import read_token

    return read_token(args.token_file, TOKEN_ENV, "access token")


def run(args: argparse.Namespace) -> int:
    from deploy.deno import bundle

    if args.action == "bundle" or args.print_hash:
        try:
            built = bundle.build(Path(args.out))
            print(bundle.code_hash(built) if args.print_hash else built.report())
        except bundle.BundleError as exc:
            print(f"nwc-signer: {exc}", file=sys.stderr)
            return 2
        return 0
    if missing_data_dir(args.data_dir):
        return 2
    from deploy.common import announce_registration, print_result
    from deploy.deno.api import Api, DenoError
    from deploy.deno.setup import Target, deploy, register
    from nwc_signer.wallet import WalletSetupError

    target = Target(
        data_dir=Path(args.data_dir),
        app=args.app,
        watcher_pubkey=args.watcher_pubkey,
        mint_url=args.mint_url,
        relays=[r for r in args.relays.split(",") if r],
        out_dir=Path(args.out),
        url=args.url,
    )
    api = Api(_token(args))
    try:
        done = deploy(api, target)
        answer = register(target, args.watcher_url, done.url) if args.watcher_url else None
        announce_registration(answer, args.watcher_url, "app")
    except (DenoError, bundle.BundleError, WalletSetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    finally:
        api.close()
    print_result("app URL", done.url, done.uri, qr=not args.no_qr)
    return 0
