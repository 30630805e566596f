"""The steps of ``nwc-signer deploy cloudflare``, each safe to run again.

The wallet is made on the user's machine (``nwc_signer.wallet``: seed and root secret in 0600
files of the data folder); Cloudflare gets the root secret as a Worker secret, the sealed blob
as R2 object ``wallet.sealed`` (written only when absent: a re-run never replaces the live
state) and the blob's generation as the D1 guard row. ``DIR/cloudflare.json`` remembers where
the wallet went, so a re-run re-deploys the code and finishes whatever a failed run left.

The order keeps every failure finishable: nothing is made in the account before the token is
known to work, a bucket holding another wallet's state is refused before anything else is
made, and nothing of the wallet leaves the machine before the Worker exists. The steps
themselves are in ``steps.py`` (the onboarding service runs them one by one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import common
from deploy.cloudflare.api import Api, CloudflareError
from deploy.cloudflare.steps import (  # noqa: F401 (re-exported: the CLI's and tests' names)
    GUARD_ID,
    GUARD_SCHEMA,
    GUARD_UPSERT,
    STATE_FILE,
    STATE_KEY,
    Deployment,
    WalletMismatch,
)
from deploy.common import say as _say


@dataclass
class Target:
    """What to deploy where (the CLI's options)."""

    data_dir: Path
    name: str = "nwc-signer"
    bucket: str = ""
    database: str = ""
    watcher_pubkey: str = ""
    mint_url: str = ""
    relays: list[str] = field(default_factory=lambda: ["wss://relay.getalby.com/v1"])
    out_dir: Path = Path("build/cloudflare")

    def __post_init__(self) -> None:
        self.bucket = self.bucket or f"{self.name}-state"
        self.database = self.database or f"{self.name}-guard"


@dataclass
class Outcome:
    url: str
    wallet_id: str
    created_wallet: bool
    uri: str | None = field(default=None, repr=False)  # the first connection's, once


def deploy(
    api: Api,
    t: Target,
    *,
    existing_worker: bool = False,
    say: Callable[[str], None] = _say,
) -> Outcome:
    """Everything but the watcher: resources, code, secrets, wallet, route."""
    d = Deployment(api, t, existing_worker=existing_worker, say=say)
    for step in Deployment.STEPS:
        try:
            d.run(step)
        except CloudflareError as exc:
            if d.uri is not None:  # the only copy of the first connection's secret: hand it over
                exc.args = (
                    f"{exc.args[0]}\n(run the same command again to finish; the wallet's "
                    f"first connection, usable once it finishes:\n{d.uri}\n)",
                )
            raise
    return Outcome(d.url, d.wallet_id, d.created, d.uri)


def register(t: Target, watcher_url: str, function_url: str) -> dict[str, Any]:
    """The wallet's connection keys to the watcher, with the Worker's URL as its webhook."""
    return common.register(t.data_dir, t.relays, watcher_url, function_url, CloudflareError)
