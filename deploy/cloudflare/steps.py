"""``nwc-signer deploy cloudflare`` as named steps, each safe to run again on its own.

The command runs them all in order (``setup.deploy``); the onboarding service runs them one
at a time, shows each one's progress, and after a failure re-runs only the failed step and
those after it (a new token can be swapped in between: ``Deployment.api``). Every step is
idempotent against the account: a bucket or database is reused by name, the upload replaces
the code, secrets are set to the same values, the sealed state is written only when absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deploy.cloudflare import upload
from deploy.cloudflare.api import Api, CloudflareError
from deploy.common import local_wallet
from deploy.common import say as _say

if TYPE_CHECKING:
    from deploy.cloudflare.bundle import Bundle
    from deploy.cloudflare.setup import Target

Say = Callable[[str], None]
# the wallet step's work: (created by this run, the first connection's URI when created)
MakeWallet = Callable[["Target", Say], tuple[bool, "str | None"]]

STATE_FILE = "cloudflare.json"
STATE_KEY = "wallet.sealed"  # functions/cloudflare/worker.py STATE_KEY
GUARD_ID = "wallet"  # functions/cloudflare/worker.py GUARD_ID
# functions/cloudflare/worker.py D1GenerationGuard: the same table and the same raise-only upsert
GUARD_SCHEMA = "CREATE TABLE IF NOT EXISTS guard (id TEXT PRIMARY KEY, high_water INTEGER NOT NULL)"
GUARD_UPSERT = ("INSERT INTO guard (id, high_water) VALUES (?, ?) ON CONFLICT(id) "
                "DO UPDATE SET high_water = MAX(high_water, excluded.high_water)")  # fmt: skip


class WalletMismatch(CloudflareError):
    """The bucket already holds another wallet's state: never overwrite it."""


def _mismatch(t: Target) -> WalletMismatch:
    return WalletMismatch(
        f"{t.bucket}/{STATE_KEY} holds another wallet's state; "
        "use another --bucket or that wallet's --data-dir"
    )


def _cli_wallet(t: Target, say: Say) -> tuple[bool, str | None]:
    return local_wallet(
        t.data_dir, mint_url=t.mint_url, relays=t.relays, watcher_pubkey=t.watcher_pubkey,
        error=CloudflareError, say=say,
    )  # fmt: skip


@dataclass
class Deployment:
    """One deploy's context; ``STEPS`` names its methods in order."""

    api: Api
    t: Target
    existing_worker: bool = False
    say: Say = _say
    built: Bundle | None = None  # given: the build step reuses it (the service builds once)
    make_wallet: MakeWallet = _cli_wallet
    database_id: str = ""
    created: bool = False
    uri: str | None = field(default=None, repr=False)  # the first connection's, once
    wallet_id: str = ""
    url: str = ""

    STEPS = ("build", "account", "bucket", "database", "upload", "wallet", "secrets", "state",
             "route")  # fmt: skip

    def run(self, step: str) -> None:
        getattr(self, f"step_{step}")()

    def _local_wallet_id(self) -> str | None:
        from functions.local.datadir import DataDir

        folder = DataDir(self.t.data_dir)
        return folder.config().wallet_id if folder.exists() else None

    def step_build(self) -> None:
        from deploy.cloudflare import bundle

        if self.existing_worker:
            return
        if self.built is None:
            self.built = bundle.build(self.t.out_dir)
        self.say(self.built.report())
        self.say(f"code hash {bundle.code_hash(self.built.modules)}")

    def step_account(self) -> None:
        self.say(f"account {self.api.account_id}")
        if not self.existing_worker and not self.t.watcher_pubkey:
            raise CloudflareError("--watcher-pubkey is required (the relay-watcher's public key)")

    def step_bucket(self) -> None:
        """The R2 bucket; one already holding another wallet's state is refused here, before
        anything else is made or overwritten (the Worker's secrets included)."""
        t = self.t
        if self.existing_worker:
            self.database_id = self._existing_bindings()
        else:
            made = self.api.ensure_bucket(t.bucket)
            self.say(f"R2 bucket {t.bucket}: {'created' if made else 'exists'}")
        remote = self.api.get_object(t.bucket, STATE_KEY)
        if remote is not None:
            from signer_core.vault import sealed

            if sealed.parse(remote).wallet_id != self._local_wallet_id():
                raise _mismatch(t)

    def step_database(self) -> None:
        if self.existing_worker:
            return
        self.database_id, made = self.api.ensure_database(self.t.database)
        self.say(f"D1 database {self.t.database} ({self.database_id}): "
                 f"{'created' if made else 'exists'}")  # fmt: skip

    def step_upload(self) -> None:
        if self.built is None:  # --existing-worker: the code is the button's
            return
        t = self.t
        meta = upload.metadata(bucket=t.bucket, database_id=self.database_id,
                               watcher_pubkey=t.watcher_pubkey)  # fmt: skip
        data, files = upload.multipart_fields(meta, self.built.modules)
        self.api.put_script(t.name, data, files)
        self.say(f"worker {t.name}: uploaded {len(files)} modules")

    def step_wallet(self) -> None:
        if not self.t.watcher_pubkey:
            raise CloudflareError("--watcher-pubkey is required (the relay-watcher's public key)")
        created, uri = self.make_wallet(self.t, self.say)
        self.created = self.created or created
        self.uri = uri if uri is not None else self.uri
        self.wallet_id = self._local_wallet_id() or ""

    def step_secrets(self) -> None:
        from functions.local.datadir import DataDir

        folder = DataDir(self.t.data_dir)
        self.api.put_secret(self.t.name, "ROOT_SECRET", folder.secrets().root_secret.hex())
        self.api.put_secret(self.t.name, "WALLET_ID", folder.config().wallet_id)
        self.say("secrets: ROOT_SECRET and WALLET_ID set")

    def step_state(self) -> None:
        """The blob into R2 (create-only) and its generation into the D1 guard."""
        from functions.local.datadir import DataDir
        from signer_core.vault import sealed

        t, api = self.t, self.api
        folder = DataDir(t.data_dir)
        self.wallet_id = folder.config().wallet_id
        found = folder.store().read()
        if found is None:
            raise CloudflareError(f"{t.data_dir} holds no sealed state")
        blob = found[0]
        remote = api.get_object(t.bucket, STATE_KEY)
        if remote is None:
            api.put_object(t.bucket, STATE_KEY, blob)
            self.say(f"state: wrote {t.bucket}/{STATE_KEY} ({len(blob)} bytes, sealed)")
        elif sealed.parse(remote).wallet_id != self.wallet_id:
            raise _mismatch(t)
        else:
            self.say(f"state: {t.bucket}/{STATE_KEY} already there (left as it is)")
        generation = sealed.parse(blob).generation
        api.query(self.database_id, GUARD_SCHEMA)
        api.query(self.database_id, GUARD_UPSERT, [GUARD_ID, str(generation)])
        self.say(f"guard: D1 high-water mark at least generation {generation}")

    def step_route(self) -> None:
        t = self.t
        self.url = self.api.enable_workers_dev(t.name)
        self.say(f"route: {self.url}")
        record = {"account_id": self.api.account_id, "worker": t.name, "bucket": t.bucket,
                  "database": t.database, "database_id": self.database_id,
                  "url": self.url}  # fmt: skip
        (t.data_dir / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")

    def _existing_bindings(self) -> str:
        """--existing-worker: the bucket, database and watcher key the deployed Worker has."""
        t = self.t
        bindings = {b.get("name"): b for b in self.api.settings(t.name)}
        state, guard = bindings.get(upload.STATE_BINDING), bindings.get(upload.GUARD_BINDING)
        if not state or state.get("type") != "r2_bucket" or not guard or guard.get("type") != "d1":
            raise CloudflareError(
                f"Worker {t.name} has no STATE (R2) and GUARD (D1) bindings: "
                "was it deployed from this repository's wrangler.jsonc?"
            )
        t.bucket = str(state["bucket_name"])
        database_id = str(guard.get("database_id") or guard.get("id"))
        pubkey = str(bindings.get("WATCHER_PUBKEY", {}).get("text") or "")
        if t.watcher_pubkey and pubkey != t.watcher_pubkey or pubkey.strip("0") == "":
            raise CloudflareError(
                f"Worker {t.name}'s WATCHER_PUBKEY is {pubkey or 'unset'!r}: set the watcher's "
                "key in its settings (or wrangler.jsonc) first"
            )
        t.watcher_pubkey = pubkey
        self.say(f"worker {t.name}: found (R2 bucket {t.bucket}, D1 database {database_id})")
        return database_id
