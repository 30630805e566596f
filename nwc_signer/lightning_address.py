"""`nwc-signer wallet lightning-address NAME --watcher URL`: claim a lightning address for a
local wallet at the watcher that serves it (docs/lightning-address.md).

The claim is signed by the wallet's registration key (the watcher already knows it from the
wallet's registration) and names the zap key's public key, the LNURL `nostrPubkey` that signs
the wallet's zap receipts. The address is remembered in the data folder
(`DIR/lightning-address`, not a secret) and in the sealed state, so new connection URIs and
get_info carry it as `lud16`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from nwc_signer.wallet import ADDRESS_FILE, open_admin


class ClaimRefused(Exception):
    """The watcher refused the claim; the message says why."""


def claim(data_dir: Path | str, watcher_url: str, name: str, *, release: bool = False) -> str:
    """Claim `name` (or release the wallet's address); the address (name@host), or ''."""
    from functions.local.datadir import DataDir
    from relay_watcher.lnurl_claims import build_claim
    from signer_core.protocol.zaps import zap_pubkey
    from signer_core.vault.keys import registration_secret

    folder = DataDir(data_dir)
    root, wallet_id = folder.secrets().root_secret, folder.config().wallet_id
    headers, body = build_claim(
        registration_secret(root, wallet_id),
        name=name,
        nostr_pubkey=zap_pubkey(root, wallet_id),
        now=int(time.time()),
        action="release" if release else "claim",
    )
    url = watcher_url.rstrip("/") + "/v1/lightning-address"
    try:
        res = httpx.post(url, content=body, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        raise ClaimRefused(f"the watcher at {watcher_url} cannot be reached: {exc}") from None
    answer = (
        res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
    )
    if res.status_code != 200:
        raise ClaimRefused(f"HTTP {res.status_code}: {answer.get('message', res.text[:200])}")
    address_file = Path(data_dir) / ADDRESS_FILE
    if release:
        address_file.unlink(missing_ok=True)
        _remember(data_dir, "")
        return ""
    domain = answer.get("domain") or urlsplit(watcher_url).netloc
    address = f"{answer.get('name', name)}@{domain}"
    address_file.write_text(address + "\n")
    _remember(data_dir, address)
    return address


def _remember(data_dir: Path | str, address: str) -> None:
    """Keep the address in the sealed state too (get_info's `lud16`)."""
    session = open_admin(data_dir)
    session.state.lightning_address = address[:320] or None  # released: no lud16 any more
    session.commit_if_changed()


def cmd_lightning_address(args: argparse.Namespace) -> int:
    try:
        address = claim(args.data_dir, args.watcher, args.name, release=args.release)
    except ClaimRefused as exc:
        print(f"lightning address not {'released' if args.release else 'claimed'}: {exc}")
        return 1
    print(address if address else "lightning address released")
    return 0


def add_parser(wallet: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`wallet lightning-address` under the CLI's `wallet` group (nwc_signer/cli.py)."""
    sub = wallet.add_parser(
        "lightning-address",
        help="claim a lightning address (name@watcher) for this wallet, with zaps",
        description="Claim NAME at the watcher that serves the wallet (the wallet must be "
        "registered there). Payers then reach the wallet at NAME@<watcher host>; new "
        "connection URIs carry it as lud16.",
    )
    sub.add_argument("name", help="1-64 of a-z 0-9 . _ - (lower case)")
    sub.add_argument("--data-dir", required=True, metavar="DIR", help="the wallet's data folder")
    sub.add_argument("--watcher", required=True, metavar="URL", help="the watcher's URL")
    sub.add_argument("--release", action="store_true", help="give the wallet's address up instead")
    sub.set_defaults(func=cmd_lightning_address)
