"""`nwc-signer deploy cloudflare`: a Python Worker on R2 + D1 in the user's own account."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

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
        "--watcher-pubkey",
        default="",
        help="the relay-watcher's x-only public key, 64 hex (required unless "
        "--existing-worker finds it on the Worker)",
    )
    cf.add_argument(
        "--watcher-url",
        default="",
        help="the watcher's base URL to register with (default: do not register)",
    )
    cf.add_argument(
        "--mint-url", default="", help="the Cashu mint's URL (required when the wallet is created)"
    )
    cf.add_argument(
        "--relays",
        default="wss://relay.getalby.com/v1",
        help="comma-separated relays for the connections (default: %(default)s)",
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
    cf.add_argument("--no-qr", action="store_true", help="print the URI without its QR code")
    cf.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise SystemExit(f"nwc-signer: cannot read --token-file: {exc.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SystemExit(f"nwc-signer: no API token: set ${TOKEN_ENV} or pass --token-file")
    return token


def run(args: argparse.Namespace) -> int:
    from deploy.cloudflare import bundle

    if args.action == "bundle":
        try:
            print(bundle.build(Path(args.out)).report())
        except bundle.BundleError as exc:
            print(f"nwc-signer: {exc}", file=sys.stderr)
            return 2
        return 0
    if not args.data_dir:
        print("nwc-signer: --data-dir is required", file=sys.stderr)
        return 2
    from deploy.cloudflare.api import Api, CloudflareError
    from deploy.cloudflare.setup import Target, deploy, register
    from nwc_signer.wallet import WalletSetupError, print_uri

    target = Target(
        data_dir=Path(args.data_dir), name=args.name, bucket=args.bucket,
        database=args.database, watcher_pubkey=args.watcher_pubkey, mint_url=args.mint_url,
        relays=[r for r in args.relays.split(",") if r],
        out_dir=Path(args.out),
    )  # fmt: skip
    try:
        api = Api(_token(args), args.account_id or None)
        done = deploy(api, target, existing_worker=args.existing_worker)
        if args.watcher_url:
            answer = register(target, args.watcher_url, done.url)
            print(f"==> watcher: registered {answer.get('wallet_pubkey', '')} at "
                  f"{args.watcher_url}", file=sys.stderr)  # fmt: skip
        else:
            print("==> watcher: no --watcher-url; register the Worker's URL with your watcher",
                  file=sys.stderr)  # fmt: skip
    except (CloudflareError, bundle.BundleError, WalletSetupError) as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    print(f"worker URL: {done.url}")
    if done.uri is not None:
        print("connection URI of the wallet's first connection (shown once):")
        print_uri(done.uri, qr=not args.no_qr)
    else:
        print("the wallet already existed: its connections are unchanged")
    return 0
