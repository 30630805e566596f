"""The steps of ``nwc-signer deploy vercel``, each safe to run again.

1. assemble the project's files (``bundle.py``), report their size and hash;
2. prove the access token (``GET /v2/user``) before anything is made;
3. the project: read it (``GET /v9/projects/{name}``) or create it (``POST /v11/projects``,
   no framework: ``api/`` zero-config); a project whose WALLET_ID is another wallet's is
   never touched;
4. the wallet, made on this machine (Spark by default, Cashu on request; seed and root
   secret in 0600 files of the data folder);
5. the environment (``POST /v10/projects/{id}/env?upsert=true``): ROOT_SECRET and, for
   Spark, BREEZ_API_KEY as *sensitive*; WALLET_ID and WATCHER_PUBKEY plain;
6. the Blob store: found by name or created private (``POST /v1/storage/stores/blob``) and
   connected to the project (``POST /v1/storage/stores/{id}/connections``), which sets
   BLOB_READ_WRITE_TOKEN in the project;
7. the first sealed state, create-only, with the store's token (``state.py``);
8. every file uploaded by SHA1 (``POST /v2/files``), then a production deployment
   (``POST /v13/deployments``) polled until READY with its aliases;
9. the production URL (``<project>.vercel.app``: Hobby's Standard Protection keeps
   production domains public, unlike deployment URLs).

``DIR/vercel-deploy.json`` remembers where the wallet went. A failure after the wallet was
made hands over its first connection URI (the only copy) with the error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import common
from deploy.vercel import bundle, schema
from deploy.vercel.api import Api, MissingFilesError, VercelError

STATE_FILE = "vercel-deploy.json"
TARGETS: list[schema.EnvTarget] = ["production", "preview"]  # sensitive ones cannot be development
BREEZ_ENV = "BREEZ_API_KEY"


@dataclass
class Target:
    """What to deploy where (the CLI's options)."""

    data_dir: Path
    project: str = "nwc-signer"
    backend: str = "spark"
    network: str = "mainnet"  # spark only
    mint_url: str = ""  # cashu only
    watcher_pubkey: str = ""
    watcher_url: str = ""  # a Spark wallet made here keeps the Breez hook of an https one
    relays: list[str] = field(default_factory=lambda: ["wss://relay.getalby.com/v1"])
    region: str = "iad1"  # the Blob store's
    out_dir: Path = Path("build/vercel")
    source: Path | None = None  # functions/vercel/ unless given
    # the Blob API and content host (the runtime's VERCEL_BLOB_API_URL and
    # NWC_SIGNER_BLOB_STORE_URL, which only the local fake sets); None: Vercel's
    blob_api_url: str | None = None
    blob_store_url: str | None = None

    @property
    def store_name(self) -> str:
        return f"{self.project}-state"[:70]


@dataclass
class Outcome:
    url: str  # the webhook the watcher calls
    wallet_id: str
    created_wallet: bool
    deployment_id: str
    digest: str
    uri: str | None = field(default=None, repr=False)  # the first connection's, once


class NameTaken(VercelError):
    """A name this deploy would use is another's (a project serving another wallet, a Blob
    store that is public or connected to another project): nothing of it is touched."""


class WalletMismatch(NameTaken):
    """The project already belongs to another wallet: never overwrite it."""


def _breez_key(data_dir: Path) -> str:
    key = os.environ.get(BREEZ_ENV, "").strip()
    path = data_dir / "secrets" / "breez_api_key"
    if not key and path.is_file():
        key = path.read_text().strip()
    return key


def _local_wallet(t: Target, say: Callable[[str], None]) -> tuple[bool, str | None]:
    return common.local_wallet(
        t.data_dir, mint_url=t.mint_url, relays=t.relays, watcher_pubkey=t.watcher_pubkey,
        error=VercelError, backend=t.backend, network=t.network, watcher_url=t.watcher_url,
        say=say,
    )  # fmt: skip


def _check(t: Target) -> None:
    """Everything that can be refused before any call: one line each."""
    from functions.local.datadir import DataDir
    from signer_core.vault.keys import parse_pubkey_hex

    if not t.watcher_pubkey:
        raise VercelError("--watcher-pubkey is required (the relay-watcher's public key)")
    try:
        parse_pubkey_hex("--watcher-pubkey", t.watcher_pubkey)
    except ValueError as exc:
        raise VercelError(str(exc)) from None
    if t.backend not in ("spark", "cashu"):
        raise VercelError("--backend must be spark or cashu")
    exists = DataDir(t.data_dir).exists()
    if not exists and t.backend == "cashu" and not t.mint_url:
        raise VercelError("--mint-url is required to create a Cashu wallet")
    spark_main = t.backend == "spark" and t.network == "mainnet"
    if not exists and spark_main and not _breez_key(t.data_dir):
        raise VercelError(
            f"a Spark wallet needs a Breez API key: set ${BREEZ_ENV} "
            "(https://breez.technology/request-api-key/)"
        )


def _project(api: Api, t: Target, say: Callable[[str], None]) -> schema.Project:
    project = api.get_project(t.project)
    if project is None:
        project = api.create_project(schema.CreateProject(name=t.project, framework=None))
        say(f"project {t.project}: created ({project.id})")
    else:
        say(f"project {t.project}: exists ({project.id})")
    return project


def _project_wallet(api: Api, project: schema.Project) -> str | None:
    return next((e.value for e in api.env(project.id) if e.key == "WALLET_ID"), None)


def _env(api: Api, project: schema.Project, t: Target, wallet_id: str) -> list[str]:
    from functions.local.datadir import DataDir

    folder = DataDir(t.data_dir)
    items = [
        schema.EnvVarInput(
            key="ROOT_SECRET",
            value=folder.secrets().root_secret.hex(),
            type="sensitive",
            target=TARGETS,
        ),
        schema.EnvVarInput(key="WALLET_ID", value=wallet_id, type="plain", target=TARGETS),
        schema.EnvVarInput(
            key="WATCHER_PUBKEY", value=t.watcher_pubkey, type="plain", target=TARGETS
        ),
    ]
    if folder.config().backend == "spark":
        key = _breez_key(t.data_dir)
        if key:
            items.append(
                schema.EnvVarInput(key=BREEZ_ENV, value=key, type="sensitive", target=TARGETS)
            )
    api.set_env(project.id, items)
    return [i.key + (" (sensitive)" if i.type == "sensitive" else "") for i in items]


def _store(api: Api, project: schema.Project, t: Target, say: Callable[[str], None]) -> str:
    """The project's private Blob store, connected: its id."""
    found = next(
        (s for s in api.stores() if s.name == t.store_name and (s.type in (None, "blob"))), None
    )
    if found is None:
        body = schema.CreateBlobStore.model_validate(
            {"name": t.store_name, "access": "private", "projectId": project.id, "region": t.region}
        )
        found = api.create_store(body)
        say(f"blob store {t.store_name}: created private ({found.id})")
    elif found.access == "public":
        raise NameTaken(
            f"Blob store {t.store_name} is public: the wallet's store must be "
            "private; remove it or use another --project"
        )
    else:
        say(f"blob store {t.store_name}: exists ({found.id})")
    connected = api.connections(found.id)
    others = sorted({c.projectId for c in connected if c.projectId != project.id})
    if others and not any(c.projectId == project.id for c in connected):
        raise NameTaken(
            f"Blob store {t.store_name} belongs to another project ({', '.join(others)}): "
            "it is left untouched; use another --project"
        )
    if not any(c.projectId == project.id for c in connected):
        api.connect(
            found.id, schema.CreateConnection(projectId=project.id, envVarEnvironments=TARGETS)
        )
        say(f"blob store {t.store_name}: connected to {t.project} (BLOB_READ_WRITE_TOKEN)")
    return found.id


def _upload(
    api: Api,
    built: bundle.Bundle,
    t: Target,
    say: Callable[[str], None],
    only: set[str] | None = None,
) -> None:
    sent = 0
    for f in built.files:
        if only is None or f.sha in only:
            api.upload(f.sha, (built.root / f.path).read_bytes())
            sent += 1
    say(f"files: {sent} uploaded by SHA1")


def _deploy(
    api: Api, project: schema.Project, built: bundle.Bundle, t: Target, say: Callable[[str], None]
) -> schema.Deployment:
    # A project made by the Deploy Button builds from its Root Directory (functions/vercel):
    # the same files go under that folder, and the project's settings stay as they are.
    root = (project.rootDirectory or "").strip("/")
    prefix = f"{root}/" if root else ""
    settings = {} if root else {"projectSettings": schema.ProjectSettings(framework=None)}
    body = schema.CreateDeployment(
        name=t.project,
        project=project.id,
        target="production",
        files=[
            schema.UploadedFile(file=prefix + f.path, sha=f.sha, size=f.size) for f in built.files
        ],
        meta={"nwcSignerBundle": built.digest},
        **settings,
    )
    _upload(api, built, t, say)
    try:
        return api.create_deployment(body)
    except MissingFilesError as exc:  # files the API lost or never took: send those again
        _upload(api, built, t, say, only=set(exc.missing))
        return api.create_deployment(body)


def production_host(dep: schema.Deployment, project: str) -> str:
    """``<project>.vercel.app`` when the deployment has it, else its shortest alias."""
    aliases = dep.alias or []
    if f"{project}.vercel.app" in aliases:
        return f"{project}.vercel.app"
    if aliases:
        return min(aliases, key=len)
    raise VercelError(
        f"deployment {dep.id} has no production domain; run the same command again once it has one"
    )


def register(t: Target, watcher_url: str, function_url: str) -> dict[str, Any]:
    """The wallet's connection keys to the watcher, with the function's URL as its webhook."""
    return common.register(t.data_dir, t.relays, watcher_url, function_url, VercelError)
