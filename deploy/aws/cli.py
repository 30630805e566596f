"""`nwc-signer deploy aws`: build the bundle, print the quick-create link, or deploy directly.

``add_parser`` also makes the ``deploy`` group itself, where ``deploy cloudflare`` sits beside
``aws`` (nwc_signer/cli.py calls this one function)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(top: Any) -> None:
    dep = top.add_parser("deploy", help="deploy the signer to a cloud account").add_subparsers(
        dest="target", required=True
    )
    aws = dep.add_parser("aws", help="AWS Lambda (SAM template, CloudFormation)")
    aws.add_argument(
        "action",
        choices=["bundle", "link", "stack"],
        help="bundle: build the arm64 bundle and report its size; link: print a CloudFormation "
        "quick-create link; stack: bundle, upload, deploy, create the wallet and register it",
    )
    aws.add_argument("--region", default="us-east-1", help="AWS region (default: %(default)s)")
    aws.add_argument(
        "--stack", default="nwc-signer", help="CloudFormation stack name (default: %(default)s)"
    )
    aws.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    aws.add_argument(
        "--artifact-bucket",
        default="",
        help="an S3 bucket of yours in --region to upload the bundle to (required for stack)",
    )
    aws.add_argument(
        "--out", default="build/aws", help="folder the bundle is built in (default: %(default)s)"
    )
    aws.add_argument(
        "--watcher-pubkey",
        default="",
        help="the relay-watcher's x-only public key, 64 hex (required for link and stack)",
    )
    aws.add_argument(
        "--watcher-url",
        default="",
        help="the watcher's base URL to register the wallet with (stack; empty: do not register)",
    )
    aws.add_argument(
        "--relays",
        default="wss://relay.getalby.com/v1",
        help="comma-separated relays for the NWC connections (default: %(default)s)",
    )
    aws.add_argument(
        "--backend",
        default="cashu",
        choices=["cashu", "spark"],
        help="wallet backend (default: %(default)s)",
    )
    aws.add_argument(
        "--mint-url", default="", help="the Cashu mint's URL (required with --backend cashu)"
    )
    aws.set_defaults(func=run)
    from deploy.cloudflare.cli import add_parser as add_cloudflare
    from deploy.deno.cli import add_parser as add_deno
    from deploy.vercel.cli import add_parser as add_vercel

    add_cloudflare(dep)
    add_deno(dep)
    add_vercel(dep)


def _params(args: argparse.Namespace) -> dict[str, str]:
    return {"WatcherPubkey": args.watcher_pubkey, "WatcherUrl": args.watcher_url,
            "Relays": args.relays, "Backend": args.backend, "MintUrl": args.mint_url}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from deploy.aws import bundle, stack

    if args.action == "link":
        print(stack.quick_create_link(args.region, _params(args), args.stack))
        return 0
    if args.action == "stack" and (not args.watcher_pubkey or not args.artifact_bucket):
        print("nwc-signer: --watcher-pubkey and --artifact-bucket are required", file=sys.stderr)
        return 2
    try:
        built = bundle.build(Path(args.out))
    except bundle.BundleError as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    print(built.report())
    if args.action == "bundle":
        return 0
    import boto3

    from deploy.aws.template import TEMPLATE
    from functions.aws_lambda.admin import AwsWallet
    from functions.aws_lambda.settings import Settings

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    try:
        key = stack.artifact_key()
        stack.upload_bundle(session, args.artifact_bucket, key, str(built.zip_path))
        body = TEMPLATE.read_text().replace(
            'Bucket: !Sub "${ArtifactBucketPrefix}-${AWS::Region}"',
            f"Bucket: {args.artifact_bucket}",
        )
        outputs = stack.deploy(session, args.stack, body, {**_params(args), "ArtifactKey": key})
    except stack.DeployError as exc:
        print(f"nwc-signer: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # upload failures (no credentials, no bucket) worded once
        print(f"nwc-signer: deploy failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env({
        "WALLET_ID": outputs["WalletId"], "WATCHER_PUBKEY": args.watcher_pubkey,
        "STATE_BUCKET": outputs["StateBucket"], "TABLE_NAME": outputs["IdempotencyTable"],
        "ROOT_SECRET_ID": outputs["RootSecretArn"],
    })  # fmt: skip
    wallet = AwsWallet(settings, session)
    if not wallet.exists():
        try:  # AwsWallet.create makes Cashu wallets only (a Spark one would need its hook URL)
            phrase = wallet.create(args.backend, args.mint_url)
        except ValueError as exc:
            print(f"nwc-signer: {exc}", file=sys.stderr)
            return 2
        print(f"\nRecovery phrase (shown once; write it down):\n  {phrase}\n")
        print(wallet.add_connection("first", args.relays.split(",")))
    print(f"function URL: {outputs['FunctionUrl']}")
    if args.watcher_url:
        stack.register(wallet, args.watcher_url, outputs["FunctionUrl"], args.relays.split(","))
        print(f"registered with the watcher at {args.watcher_url}")
    else:
        print("no --watcher-url: register the function with your watcher yourself")
    return 0
