"""`nwc-signer deploy cloudflare`: a Python Worker on R2 + D1 in the user's own account."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from deploy.common import add_wallet_options, missing_data_dir

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105 (a variable name)
ACCOUNT_ENV = "CLOUDFLARE_ACCOUNT_ID"


def add_parser(dep: Any) -> None:
    cf = dep.add_parser(
        "cloudflare",
        help="Cloudflare Workers (Python Worker, R2 state, D1 rollback guard)",
        description="Build the Worker bundle, create the R2 bucket and D1 database, upload the "
        "Worker, create the wallet locally and put its sealed state into R2, register it with "
        "the watcher and print the connection URI. Safe to run again (re-deploys the code). "
        f"The API token comes from ${TOKEN_ENV} or --token-file (an OAuth token works too).",
    )
    cf.add_argument(
        "action",
        nargs="?",
        default="deploy",
        choices=["deploy", "bundle"],
        help="deploy (default), or bundle: build the folder and report its size",
    )
    cf.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the wallet's local folder: seed and root secret stay there, 0600 "
        "(required for deploy)",
    )
    cf.add_argument(
        "--token-file", metavar="FILE", help=f"file holding the API token (default: ${TOKEN_ENV})"
    )
    cf.add_argument(
        "--account-id",
        default=os.environ.get(ACCOUNT_ENV),
        help=f"account id (default: ${ACCOUNT_ENV}, else the token's only account)",
    )
    cf.add_argument(
        "--name",
        default="nwc-signer",
        help="the Worker's name, also its workers.dev host (default: %(default)s)",
    )
    cf.add_argument("--bucket", default="", help="R2 bucket (default: NAME-state)")
    cf.add_argument("--database", default="", help="D1 database (default: NAME-guard)")
    cf.add_argument(
        "--mint-url", default="", help="the Cashu mint's URL (required when the wallet is created)"
    )
    cf.add_argument(
        "--existing-worker",
        action="store_true",
        help="the Worker is already deployed (the Deploy to Cloudflare button): only "
        "create the wallet, set its secrets, state and guard, and register it",
    )
    cf.add_argument(
        "--out",
        default="build/cloudflare",
        help="folder the bundle is built in (default: %(default)s)",
    )
    cf.add_argument(
        "--print-hash",
        action="store_true",
        help="only build the bundle and print the hash of the exact code a deploy uploads "
        "(the onboarding page shows the same hash); needs no token",
    )
    add_wallet_options(
        cf,
        watcher_pubkey_help="the relay-watcher's x-only public key, 64 hex (required unless "
        "--existing-worker finds it on the Worker)",
    )
    cf.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str:
    from deploy.common import read_token

    return read_token(args.token_file, TOKEN_ENV, "API token")


def run(args: argparse.Namespace) -> int:
    from deploy.cloudflare import bundle

    if args.action == "bundle" or args.print_hash:
        try:
            built = bundle.build(Path(args.out))
            print(bundle.code_hash(built.modules) if args.print_hash else built.report())
        except bundle.BundleError as exc:
            print(f"nwc-signer: {exc}", file=sys.stderr)
            return 2
        return 0
    if missing_data_dir(args.data_dir):
        return 2
    from deploy.cloudflare.api import Api, CloudflareError
    from deploy.cloudflare.setup import Target, deploy, register
    from deploy.common import announce_registration, print_result
    from nwc_signer.wallet import WalletSetupError

    target = Target(
        data_dir=Path(args.data_dir), name=args.name, bucket=args.bucket,
        database=args.database, watcher_pubkey=args.watcher_pubkey, mint_url=args.mint_url,
        relays=[r for r in args.relays.split(",") if r],
        out_dir=Path(args.out),
    )  # fmt: skip
    try:
        api = Api(_token(args), args.account_id or None)
        done = deploy(api, target, existing_worker=args.existing_worker)
        answer = register(target, args.watcher_url, done.url) if args.watcher_url else None
        announce_registration(answer, args.watcher_url, "Worker")
    except (CloudflareError, bundle.BundleError, WalletSetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    print_result("worker URL", done.url, done.uri, qr=not args.no_qr)
    return 0
