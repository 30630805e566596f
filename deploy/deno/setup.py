"""The steps of ``nwc-signer deploy deno``, each safe to run again.

1. bundle the app folder (``bundle.py``) and report its size;
2. prove the access token (``GET /apps?limit=1``) before anything is made;
3. the app: read it, or create it with its build config (``deno install``, entrypoint
   ``main.ts``); an app whose WALLET_ID is another wallet's is never touched;
4. the wallet, made on this machine (seed and root secret in 0600 files of the data folder);
5. the app's environment: ROOT_SECRET (secret), WALLET_ID and WATCHER_PUBKEY (plain);
6. a revision with every file of the bundle, polled until it succeeded;
7. the app's URL (its production timeline's domain, or ``--url``);
8. the first sealed blob into the app's Deno KV through the app itself (``seed.py``):
   create-only, so a re-run never replaces live state. With no KV database assigned to the
   app, this step says how to assign one; the same command then finishes the deploy.

``DIR/deno-deploy.json`` remembers where the wallet went. A failure after the wallet was
made hands over its first connection URI (the only copy) with the error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy import common
from deploy.common import local_wallet
from deploy.common import say as _say
from deploy.deno import bundle, schema
from deploy.deno.api import Api, DenoError
from signer_core.protocol import seed

STATE_FILE = "deno-deploy.json"
CONFIG = schema.Config(
    install="deno install", runtime=schema.Runtime(type="dynamic", entrypoint=bundle.ENTRYPOINT)
)


@dataclass
class Target:
    """What to deploy where (the CLI's options)."""

    data_dir: Path
    app: str = "nwc-signer"
    watcher_pubkey: str = ""
    mint_url: str = ""
    relays: list[str] = field(default_factory=lambda: ["wss://relay.getalby.com/v1"])
    out_dir: Path = Path("build/deno")
    source: Path | None = None  # functions/deno/ unless given
    python_modules: Path | None = None  # .venv-pyodide/python_modules unless given
    url: str = ""  # the app's URL when it is not its production domain (custom domain)


@dataclass
class Outcome:
    url: str
    wallet_id: str
    created_wallet: bool
    revision_id: str
    uri: str | None = field(default=None, repr=False)  # the first connection's, once


class WalletMismatch(DenoError):
    """The app or its KV already belongs to another wallet: never overwrite it."""


def _local_wallet(t: Target, say: Callable[[str], None]) -> tuple[bool, str | None]:
    return local_wallet(t.data_dir, mint_url=t.mint_url, relays=t.relays,
                        watcher_pubkey=t.watcher_pubkey, error=DenoError, say=say)  # fmt: skip


def _env_updates(app: schema.App, values: dict[str, tuple[str, bool]]) -> list[schema.EnvVarUpdate]:
    """Updates by id for the variables the app has, by key for the new ones."""
    have = {e.key: e.id for e in app.env_vars or []}
    return [
        schema.EnvVarUpdate(id=have.get(key), key=key, value=value, secret=secret)
        for key, (value, secret) in values.items()
    ]


def _app_wallet_id(app: schema.App) -> str | None:
    return next((e.value for e in app.env_vars or [] if e.key == "WALLET_ID"), None)


def _seed(
    url: str,
    data_dir: Path,
    wallet_id: str,
    app: str,
    say: Callable[[str], None],
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
) -> None:
    """POST the sealed blob to the app's seeding route (create-only, see seed.py)."""
    from functions.local.datadir import DataDir

    folder = DataDir(data_dir)
    found = folder.store().read()
    if found is None:
        raise DenoError(f"{data_dir} holds no sealed state")
    root = folder.secrets().root_secret
    what = f"seeding the app's Deno KV at {url}"
    res = None
    with httpx.Client(transport=transport, timeout=90.0) as client:
        for attempt in range(4):  # a fresh revision may still be starting (Pyodide ~3 s)
            headers, body = seed.build(root, wallet_id, found[0], int(time.time()))
            try:
                res = client.post(url.rstrip("/") + seed.PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                if attempt == 3:
                    raise DenoError(
                        f"{what}: cannot reach the app ({type(exc).__name__})"
                    ) from None
                sleep(5.0)
                continue
            if res.status_code not in (502, 504) or attempt == 3:
                break
            sleep(5.0)
    assert res is not None
    answer = _json(res)
    if res.status_code in (200, 201):
        generation = answer.get("generation")
        state = "written" if res.status_code == 201 else "already there (left as it is)"
        say(f"state: {state} in the app's Deno KV (generation {generation})")
        return
    if res.status_code == 503 and answer.get("error") == "kv_unavailable":
        raise DenoError(
            f"app {app} has no Deno KV database yet: assign one in the console (Databases → "
            f"Provision Database → Deno KV, then Assign → {app}) or with `deno deploy database "
            f"provision {app}-state --kind denokv && deno deploy database assign {app}-state "
            f"--app {app}`, then run the same command again"
        )
    if res.status_code == 409:
        raise WalletMismatch(
            f"app {app}'s Deno KV holds another wallet's state; use another "
            "--app or that wallet's --data-dir"
        )
    if res.status_code == 401:
        raise DenoError(
            f"{what}: the app refused the seeding signature (HTTP 401): its "
            "ROOT_SECRET or WALLET_ID is not this wallet's"
        )
    if res.status_code == 404:
        raise DenoError(
            f"{what}: the app has no {seed.PATH} route (HTTP 404): is the deployed "
            "code this repository's functions/deno?"
        )
    raise DenoError(f"{what}: HTTP {res.status_code} {str(answer.get('error', ''))[:200]}".strip())


def _json(res: httpx.Response) -> dict[str, Any]:
    try:
        data = res.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class Deployment:
    """One deploy's context as named steps (``STEPS``), each safe to run again: the command
    runs them all; the onboarding service runs them one at a time and, after a failure (the
    KV database not assigned yet, a token that stopped working), re-runs only the failed
    step and those after it. ``make_wallet`` replaces the local-wallet step (the service
    keeps the recovery phrase to show it once instead of printing it)."""

    STEPS = ("build", "token", "app", "wallet", "env", "revision", "url", "seed", "remember")

    def __init__(
        self,
        api: Api,
        t: Target,
        *,
        say: Callable[[str], None] = _say,
        sleep: Callable[[float], None] = time.sleep,
        app_transport: httpx.BaseTransport | None = None,
        built: bundle.Bundle | None = None,
        make_wallet: Callable[[Target, Callable[[str], None]], tuple[bool, str | None]]
        | None = None,
    ) -> None:
        self.api, self.t, self.say, self.sleep = api, t, say, sleep
        self.app_transport = app_transport
        self.built = built
        self.make_wallet = make_wallet or _local_wallet
        self.app: schema.App | None = None
        self.rev: schema.Revision | None = None
        self.created = False
        self.uri: str | None = None
        self.wallet_id = ""
        self.url = ""

    def run(self, step: str) -> None:
        getattr(self, f"step_{step}")()

    def step_build(self) -> None:
        from signer_core.vault.keys import parse_pubkey_hex

        t = self.t
        if not t.watcher_pubkey:
            raise DenoError("--watcher-pubkey is required (the relay-watcher's public key)")
        try:
            parse_pubkey_hex("--watcher-pubkey", t.watcher_pubkey)
        except ValueError as exc:
            raise DenoError(str(exc)) from None
        if self.built is None:
            self.built = bundle.build(t.out_dir, source=t.source, python_modules=t.python_modules)
        self.say(self.built.report())
        self.say(f"code hash {bundle.code_hash(self.built)}")

    def step_token(self) -> None:
        self.api.check_token()
        self.say("access token: accepted")

    def step_app(self) -> None:
        from functions.local.datadir import DataDir

        t = self.t
        app = self.api.get_app(t.app)
        if app is None:
            app = self.api.create_app(schema.CreateApp(slug=t.app, config=CONFIG))
            self.say(f"app {t.app}: created")
        else:
            self.say(f"app {t.app}: exists")
        self.app = app
        folder = DataDir(t.data_dir)
        theirs = _app_wallet_id(app)
        if theirs and folder.exists() and theirs != folder.config().wallet_id:
            raise WalletMismatch(
                f"app {t.app} serves wallet {theirs}, not the one in {t.data_dir}; "
                "use another --app"
            )
        if theirs and not folder.exists():
            raise WalletMismatch(
                f"app {t.app} already serves wallet {theirs}: pass that wallet's "
                "--data-dir, or use another --app"
            )

    def step_wallet(self) -> None:
        from functions.local.datadir import DataDir

        created, uri = self.make_wallet(self.t, self.say)
        self.created = self.created or created
        self.uri = uri if uri is not None else self.uri
        self.wallet_id = DataDir(self.t.data_dir).config().wallet_id

    def step_env(self) -> None:
        from functions.local.datadir import DataDir

        t = self.t
        folder = DataDir(t.data_dir)
        self.wallet_id = folder.config().wallet_id
        env = {
            "ROOT_SECRET": (folder.secrets().root_secret.hex(), True),
            "WALLET_ID": (self.wallet_id, False),
            "WATCHER_PUBKEY": (t.watcher_pubkey, False),
        }
        app = self.app if self.app is not None else self.api.get_app(t.app)
        if app is None:
            raise DenoError(f"app {t.app} is gone: run the deploy again")
        self.app = self.api.update_app(
            t.app, schema.UpdateApp(config=CONFIG, env_vars=_env_updates(app, env))
        )
        self.say("env: ROOT_SECRET (secret), WALLET_ID and WATCHER_PUBKEY set")

    def step_revision(self) -> None:
        assert self.built is not None, "the build step runs first"
        built = self.built
        request = schema.DeployRequest.model_validate(
            {"assets": bundle.assets(built.root, built.files), "config": CONFIG, "production": True}
        )
        rev = self.api.deploy(self.t.app, request)
        self.rev = rev
        self.say(f"revision {rev.id}: {rev.status}, {len(built.files)} files")
        self.rev = self.api.wait(
            rev.id, sleep=self.sleep, on_status=lambda s: self.say(f"revision {rev.id}: {s}")
        )

    def step_url(self) -> None:
        assert self.rev is not None, "the revision step runs first"
        self.url = self.t.url.rstrip("/") or self.api.production_url(self.rev.id)
        self.say(f"url: {self.url}")

    def step_seed(self) -> None:
        t = self.t
        _seed(self.url, t.data_dir, self.wallet_id, t.app, self.say, self.app_transport,
              self.sleep)  # fmt: skip

    def step_remember(self) -> None:
        assert self.app is not None and self.rev is not None
        record = {"app": self.t.app, "app_id": self.app.id, "revision": self.rev.id,
                  "url": self.url}  # fmt: skip
        (self.t.data_dir / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def deploy(
    api: Api,
    t: Target,
    *,
    say: Callable[[str], None] = _say,
    sleep: Callable[[float], None] = time.sleep,
    app_transport: httpx.BaseTransport | None = None,
) -> Outcome:
    """Everything but the watcher registration (``register``)."""
    d = Deployment(api, t, say=say, sleep=sleep, app_transport=app_transport)
    for step in Deployment.STEPS:
        try:
            d.run(step)
        except DenoError as exc:
            if d.uri is not None:  # the only copy of the first connection's secret: hand it over
                exc.args = (
                    f"{exc.args[0]}\n(run the same command again to finish; the wallet's "
                    f"first connection, usable once it finishes:\n{d.uri}\n)",
                )
            raise
    assert d.rev is not None
    return Outcome(d.url, d.wallet_id, d.created, d.rev.id, d.uri)


def register(t: Target, watcher_url: str, function_url: str) -> dict[str, Any]:
    """The wallet's connection keys to the watcher, with the app's URL as its webhook."""
    return common.register(t.data_dir, t.relays, watcher_url, function_url, DenoError)
