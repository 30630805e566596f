"""The steps of ``nwc-signer deploy cloudflare``, each safe to run again.

The wallet is made on the user's machine (``nwc_signer.wallet``: seed and root secret in 0600
files of the data folder); Cloudflare gets the root secret as a Worker secret, the sealed blob
as R2 object ``wallet.sealed`` (written only when absent: a re-run never replaces the live
state) and the blob's generation as the D1 guard row. ``DIR/cloudflare.json`` remembers where
the wallet went, so a re-run re-deploys the code and finishes whatever a failed run left.

The order keeps every failure finishable: nothing is made in the account before the token is
known to work, and nothing of the wallet leaves the machine before the Worker exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import common
from deploy.cloudflare import upload
from deploy.cloudflare.api import Api, CloudflareError
from deploy.common import local_wallet
from deploy.common import say as _say

STATE_FILE = "cloudflare.json"
STATE_KEY = "wallet.sealed"  # functions/cloudflare/worker.py STATE_KEY
GUARD_ID = "wallet"  # functions/cloudflare/worker.py GUARD_ID
# functions/cloudflare/worker.py D1GenerationGuard: the same table and the same raise-only upsert
GUARD_SCHEMA = "CREATE TABLE IF NOT EXISTS guard (id TEXT PRIMARY KEY, high_water INTEGER NOT NULL)"
GUARD_UPSERT = ("INSERT INTO guard (id, high_water) VALUES (?, ?) ON CONFLICT(id) "
                "DO UPDATE SET high_water = MAX(high_water, excluded.high_water)")  # fmt: skip


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


class WalletMismatch(CloudflareError):
    """The bucket already holds another wallet's state: never overwrite it."""


def _local_wallet(t: Target, say: Callable[[str], None]) -> tuple[bool, str | None]:
    return local_wallet(
        t.data_dir, mint_url=t.mint_url, relays=t.relays, watcher_pubkey=t.watcher_pubkey,
        error=CloudflareError, say=say,
    )  # fmt: skip


def _existing_bindings(api: Api, t: Target, say: Callable[[str], None]) -> str:
    """--existing-worker: the bucket, database and watcher key the deployed Worker has."""
    bindings = {b.get("name"): b for b in api.settings(t.name)}
    state, guard = bindings.get(upload.STATE_BINDING), bindings.get(upload.GUARD_BINDING)
    if not state or state.get("type") != "r2_bucket" or not guard or guard.get("type") != "d1":
        raise CloudflareError(f"Worker {t.name} has no STATE (R2) and GUARD (D1) bindings: "
                              "was it deployed from this repository's wrangler.jsonc?")  # fmt: skip
    t.bucket = str(state["bucket_name"])
    database_id = str(guard.get("database_id") or guard.get("id"))
    pubkey = str(bindings.get("WATCHER_PUBKEY", {}).get("text") or "")
    if t.watcher_pubkey and pubkey != t.watcher_pubkey or pubkey.strip("0") == "":
        raise CloudflareError(
            f"Worker {t.name}'s WATCHER_PUBKEY is {pubkey or 'unset'!r}: set the watcher's "
            "key in its settings (or wrangler.jsonc) first"
        )
    t.watcher_pubkey = pubkey
    say(f"worker {t.name}: found (R2 bucket {t.bucket}, D1 database {database_id})")
    return database_id


def _publish_state(api: Api, t: Target, database_id: str, say: Callable[[str], None]) -> str:
    """The blob into R2 (create-only) and its generation into the D1 guard."""
    from functions.local.datadir import DataDir
    from signer_core.vault import sealed

    folder = DataDir(t.data_dir)
    wallet_id = folder.config().wallet_id
    found = folder.store().read()
    if found is None:
        raise CloudflareError(f"{t.data_dir} holds no sealed state")
    blob = found[0]
    remote = api.get_object(t.bucket, STATE_KEY)
    if remote is None:
        api.put_object(t.bucket, STATE_KEY, blob)
        say(f"state: wrote {t.bucket}/{STATE_KEY} ({len(blob)} bytes, sealed)")
    elif sealed.parse(remote).wallet_id != wallet_id:
        raise WalletMismatch(f"{t.bucket}/{STATE_KEY} holds another wallet's state; "
                             "use another --bucket or that wallet's --data-dir")  # fmt: skip
    else:
        say(f"state: {t.bucket}/{STATE_KEY} already there (left as it is)")
    api.query(database_id, GUARD_SCHEMA)
    api.query(database_id, GUARD_UPSERT, [GUARD_ID, str(sealed.parse(blob).generation)])
    say(f"guard: D1 high-water mark at least generation {sealed.parse(blob).generation}")
    return wallet_id


def _remember(t: Target, api: Api, database_id: str, url: str) -> None:
    record = {"account_id": api.account_id, "worker": t.name, "bucket": t.bucket,
              "database": t.database, "database_id": database_id, "url": url}  # fmt: skip
    (t.data_dir / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def deploy(
    api: Api,
    t: Target,
    *,
    existing_worker: bool = False,
    say: Callable[[str], None] = _say,
) -> Outcome:
    """Everything but the watcher: resources, code, secrets, wallet, route."""
    from deploy.cloudflare import bundle
    from functions.local.datadir import DataDir

    built = None
    if not existing_worker:
        built = bundle.build(t.out_dir)
        say(built.report())
    say(f"account {api.account_id}")
    if existing_worker:
        database_id = _existing_bindings(api, t, say)
    else:
        made = api.ensure_bucket(t.bucket)
        say(f"R2 bucket {t.bucket}: {'created' if made else 'exists'}")
        database_id, made = api.ensure_database(t.database)
        say(f"D1 database {t.database} ({database_id}): {'created' if made else 'exists'}")
    if not t.watcher_pubkey:
        raise CloudflareError("--watcher-pubkey is required (the relay-watcher's public key)")
    created, uri = _local_wallet(t, say)
    try:
        if built is not None:
            meta = upload.metadata(bucket=t.bucket, database_id=database_id,
                                   watcher_pubkey=t.watcher_pubkey)  # fmt: skip
            data, files = upload.multipart_fields(meta, built.modules)
            api.put_script(t.name, data, files)
            say(f"worker {t.name}: uploaded {len(files)} modules")
        folder = DataDir(t.data_dir)
        api.put_secret(t.name, "ROOT_SECRET", folder.secrets().root_secret.hex())
        api.put_secret(t.name, "WALLET_ID", folder.config().wallet_id)
        say("secrets: ROOT_SECRET and WALLET_ID set")
        wallet_id = _publish_state(api, t, database_id, say)
        url = api.enable_workers_dev(t.name)
        say(f"route: {url}")
        _remember(t, api, database_id, url)
    except CloudflareError as exc:
        if uri is not None:  # the only copy of the first connection's secret: hand it over
            exc.args = (f"{exc.args[0]}\n(run the same command again to finish; the wallet's "
                        f"first connection, usable once it finishes:\n{uri}\n)",)  # fmt: skip
        raise
    return Outcome(url, wallet_id, created, uri)


def register(t: Target, watcher_url: str, function_url: str) -> dict[str, Any]:
    """The wallet's connection keys to the watcher, with the Worker's URL as its webhook."""
    return common.register(t.data_dir, t.relays, watcher_url, function_url, CloudflareError)
