"""Create a local wallet folder and add connections to it: the one code path behind
`nwc-signer wallet create` / `connection add`, `nwc-signer dev`, the AWS dev runtime and
the test harness. Results come back as objects; nothing parses our own command's output.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the lightning address claimed for a wallet folder (nwc_signer/lightning_address.py writes
# it; new connection URIs carry it as lud16)
ADDRESS_FILE = "lightning-address"


def saved_address(data_dir: Path | str) -> str | None:
    """The address claimed for this wallet folder, if any."""
    path = Path(data_dir) / ADDRESS_FILE
    text = path.read_text().strip() if path.is_file() else ""
    return text or None


BACKENDS = ("cashu", "spark")
NETWORKS = ("regtest", "mainnet")
RENEWALS = ("daily", "weekly", "monthly", "yearly", "never")
DEFAULT_RELAYS = ("wss://relay.getalby.com/v1",)


class WalletSetupError(Exception):
    """A user-facing failure (bad input, existing wallet): one line, no traceback."""


@dataclass(frozen=True)
class NewWallet:
    """What creating a wallet produced. The recovery phrase is in memory only: show it once."""

    data_dir: Path
    wallet_id: str
    backend: str
    relays: list[str]
    watcher_pubkey: str
    mnemonic: str = field(repr=False)
    # the local watcher's signing key, when no outside watcher was named (dev, tests)
    watcher_secret: bytes | None = field(default=None, repr=False)
    # Spark: whether the wallet's data carries its Breez webhook URL (a public watcher_url)
    spark_webhook: bool = False


@dataclass(frozen=True)
class NewConnection:
    id: str
    name: str
    service_pubkey: str
    uri: str = field(repr=False)  # carries the client secret: hand it to the app, once


def create_local_wallet(
    data_dir: Path | str,
    *,
    backend: str = "cashu",
    mint_url: str | None = None,
    network: str = "regtest",
    relays: list[str] | None = None,
    watcher_pubkey: str | None = None,
    watcher_url: str | None = None,
) -> NewWallet:
    """Create a wallet in a new data folder (its secrets 0600) and seal its first state.

    Without `watcher_pubkey` a local watcher key is made too (`nwc-signer dev`, tests).
    A Spark wallet given the public (https) `watcher_url` it will be registered with keeps
    its Breez webhook URL in its state, so that it registers the hook wherever it runs
    (signer_core/wallets/spark/hook.py); a loopback watcher leaves it unset."""
    from functions.local.datadir import DataDir, LocalConfig
    from signer_core.admin import new_wallet_state
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey
    from signer_core.session import Secrets, create_wallet

    folder = DataDir(data_dir)
    if folder.exists():
        raise WalletSetupError(f"{data_dir} already holds a wallet")
    if backend not in BACKENDS:
        raise WalletSetupError(f"backend {backend!r} is not available yet")
    if network not in NETWORKS:
        raise WalletSetupError(f"network must be one of {', '.join(NETWORKS)}")
    now = int(time.time())
    state = new_wallet_state(backend=backend, backend_data={}, now=now)
    wallet_config: dict[str, Any] = {}
    if backend == "cashu":
        if not mint_url:
            raise WalletSetupError("--mint-url is required for the cashu backend")
        from signer_core.wallets.cashu.wallet import CashuWallet

        state.backend_data = CashuWallet.create_data(mint_url)
    else:  # spark: offline-capable on regtest; mainnet needs $BREEZ_API_KEY
        from signer_core.wallets.spark.setup import SetupError, create_spark_data

        try:
            wallet_config = create_spark_data(folder.path, state, network, now)
        except SetupError as exc:
            raise WalletSetupError(str(exc)) from None
    root = generate_private_key()
    spark_webhook = False
    if backend == "spark" and watcher_url:
        from signer_core.vault.keys import registration_secret
        from signer_core.wallets.spark import hook

        key = registration_secret(root, state.wallet_id)
        spark_webhook = hook.for_watcher(state.backend_data, watcher_url, key)
    watcher_secret = None
    if watcher_pubkey is None:
        watcher_secret = generate_private_key()
        watcher_pubkey = xonly_pubkey(watcher_secret).hex()
    wallet_relays = list(relays or DEFAULT_RELAYS)
    config = LocalConfig(
        wallet_id=state.wallet_id,
        backend=backend,
        watcher_pubkey=watcher_pubkey,
        relays=wallet_relays,
        wallet_config=wallet_config,
    )
    folder.init(config, root, watcher_secret)
    create_wallet(folder.store(), folder.guard(), Secrets(root), state)
    return NewWallet(
        data_dir=Path(data_dir),
        wallet_id=state.wallet_id,
        backend=backend,
        relays=wallet_relays,
        watcher_pubkey=watcher_pubkey,
        mnemonic=state.mnemonic,
        watcher_secret=watcher_secret,
        spark_webhook=spark_webhook,
    )


def add_local_connection(
    data_dir: Path | str,
    name: str,
    *,
    methods: list[str] | None = None,
    budget_sats: int | None = None,
    budget_renewal: str = "monthly",
    expires_at: int | None = None,
    relays: list[str] | None = None,
    lud16: str | None = None,
    admin: bool = False,
) -> NewConnection:
    """Add a connection to a wallet folder and commit it; returns its URI (and ids). An
    admin connection may also create, list and revoke connections over NWC (the home page)."""
    from signer_core.admin import add_connection

    session = open_admin(data_dir)
    if methods is not None:  # "a,b c" and ["a,b", "c"] both mean [a, b, c]
        methods = [m for part in methods for m in part.replace(",", " ").split()]
    try:
        conn, uri = add_connection(
            session.state,
            root_secret=session.secrets.root_secret,
            name=name,
            relays=relays or _folder_relays(data_dir),
            now=int(time.time()),
            methods=methods,
            budget_msat=budget_sats * 1000 if budget_sats is not None else None,
            renewal=budget_renewal,  # type: ignore[arg-type]  # checked by add_connection
            expires_at=expires_at,
            lud16=lud16 if lud16 is not None else saved_address(data_dir),  # lightning-address
            admin=admin,
        )
    except ValueError as exc:
        raise WalletSetupError(str(exc)) from None
    session.commit()
    return NewConnection(conn.id, conn.name, conn.service_pubkey, str(uri))


def print_new_wallet(made: NewWallet, *, quiet: bool) -> None:
    """What `wallet create` shows: the wallet, and its recovery phrase once (unless quiet)."""
    print(f"created {made.backend} wallet {made.wallet_id} in {made.data_dir}")
    if not quiet:
        print("\nRecovery phrase (shown once; write it down, it restores the wallet's funds):")
        print(f"  {made.mnemonic}\n", flush=True)


def print_uri(uri: str, *, qr: bool) -> None:
    """A connection URI on a line of its own (apps and scripts look for the prefix), then
    its QR code for a phone."""
    print(uri, flush=True)
    if qr:
        import segno

        segno.make(uri, error="L").terminal(compact=True)
        sys.stdout.flush()


def open_admin(data_dir: Path | str) -> Any:
    """The wallet's state session, opened with the root secret (administration)."""
    from functions.local.datadir import DataDir
    from signer_core.session import StateSession

    folder = DataDir(data_dir)
    cfg = folder.config()
    session = StateSession.read(folder.store(), folder.guard(), folder.secrets(), cfg.wallet_id)
    session.open_as_admin()
    return session


def _folder_relays(data_dir: Path | str) -> list[str]:
    from functions.local.datadir import DataDir

    return list(DataDir(data_dir).config().relays)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The options of `connection add` (also parsed by the test harness's helpers)."""
    parser.add_argument(
        "--methods", nargs="+", metavar="METHOD",
        help="NIP-47 methods the app may call, space or comma separated "
        "(default: every method the wallet implements)",
    )  # fmt: skip
    parser.add_argument(
        "--budget-sats", type=int, metavar="SATS",
        help="most the app may spend per renewal period (default: no budget)",
    )  # fmt: skip
    parser.add_argument(
        "--budget-renewal", choices=RENEWALS, default="monthly",
        help="when the budget starts again (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--expires-at", type=int, metavar="UNIX_TIME",
        help="unix time the connection stops working (default: never)",
    )  # fmt: skip
    parser.add_argument(
        "--relay", action="append", dest="relays", metavar="URL",
        help="relay to put in the URI, repeatable (default: the wallet's relays)",
    )  # fmt: skip
    parser.add_argument(
        "--lud16", metavar="ADDRESS",
        help="lightning address to put in the URI (default: the one `nwc-signer wallet "
        "lightning-address` claimed, if any)",
    )  # fmt: skip
    parser.add_argument(
        "--admin", action="store_true",
        help="an admin connection, for the wallet's home page: it may also create, list and "
        "revoke connections over NWC; keep its URI as you keep the recovery phrase "
        "(default: an ordinary connection)",
    )  # fmt: skip


def connection_from_args(
    data_dir: Path | str, name: str, args: argparse.Namespace
) -> NewConnection:
    """add_local_connection with the options add_connection_options parsed."""
    return add_local_connection(
        data_dir, name, methods=args.methods, budget_sats=args.budget_sats,
        budget_renewal=args.budget_renewal, expires_at=args.expires_at,
        relays=args.relays, lud16=args.lud16, admin=args.admin,
    )  # fmt: skip
