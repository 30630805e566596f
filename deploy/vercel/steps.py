"""``nwc-signer deploy vercel`` as named steps (``Deployment.STEPS``), each safe to run
again: the command runs them all (``deploy`` below); the onboarding service runs them one at
a time and, after a failure (a token that stopped working, a name that is another's, a
failed build), re-runs only the failed step and those after it.

``make_wallet`` replaces the local-wallet step (the service keeps the recovery phrase to
show it once instead of printing it). The calls are ``setup.py``'s; this module only cuts
them where a user may have to act between two of them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from deploy.common import say as _say
from deploy.vercel import bundle, schema, setup, state
from deploy.vercel.api import Api, VercelError

MakeWallet = Callable[[setup.Target, Callable[[str], None]], tuple[bool, str | None]]


class Deployment:
    """One deploy's context; ``run(step)`` runs ``step_<step>``."""

    STEPS = ("build", "token", "project", "wallet", "env", "store", "state", "deploy", "remember")

    def __init__(
        self,
        api: Api,
        t: setup.Target,
        *,
        say: Callable[[str], None] = _say,
        sleep: Callable[[float], None] = time.sleep,
        built: bundle.Bundle | None = None,
        make_wallet: MakeWallet | None = None,
    ) -> None:
        self.api, self.t, self.say, self.sleep = api, t, say, sleep
        self.built = built
        self.make_wallet: MakeWallet = make_wallet or setup._local_wallet
        self.project: schema.Project | None = None
        self.store_id = ""
        self.dep: schema.Deployment | None = None
        self.created = False
        self.uri: str | None = None
        self.wallet_id = ""
        self.url = ""

    def run(self, step: str) -> None:
        getattr(self, f"step_{step}")()

    def _project(self) -> schema.Project:
        if self.project is None:  # a step resumed alone, after a restart of the runner
            self.project = setup._project(self.api, self.t, self.say)
        return self.project

    def step_build(self) -> None:
        setup._check(self.t)
        if self.built is None:
            self.built = bundle.build(self.t.out_dir, source=self.t.source)
        self.say(self.built.report())
        self.say(f"bundle hash: {self.built.digest}")

    def step_token(self) -> None:
        self.api.check_token()
        self.say("access token: accepted")

    def step_project(self) -> None:
        from functions.local.datadir import DataDir

        self.project = None
        project = self._project()
        folder = DataDir(self.t.data_dir)
        theirs = setup._project_wallet(self.api, project)
        if theirs and folder.exists() and theirs != folder.config().wallet_id:
            raise setup.WalletMismatch(
                f"project {self.t.project} serves wallet {theirs}, not the one in "
                f"{self.t.data_dir}; use another --project"
            )
        if theirs and not folder.exists():
            raise setup.WalletMismatch(
                f"project {self.t.project} already serves wallet {theirs}: pass that "
                "wallet's --data-dir, or use another --project"
            )

    def step_wallet(self) -> None:
        from functions.local.datadir import DataDir

        created, uri = self.make_wallet(self.t, self.say)
        self.created = self.created or created
        self.uri = uri or self.uri
        self.wallet_id = DataDir(self.t.data_dir).config().wallet_id

    def step_env(self) -> None:
        keys = setup._env(self.api, self._project(), self.t, self._wallet_id())
        self.say(f"env: {', '.join(keys)} set")

    def step_store(self) -> None:
        self.store_id = setup._store(self.api, self._project(), self.t, self.say)

    def step_state(self) -> None:
        if not self.store_id:
            self.step_store()
        t = self.t
        try:
            seeded = state.seed(
                self.api.store_token(self.store_id),
                t.data_dir,
                self._wallet_id(),
                api_url=t.blob_api_url or os.environ.get("VERCEL_BLOB_API_URL") or None,
                store_url=t.blob_store_url or os.environ.get("NWC_SIGNER_BLOB_STORE_URL") or None,
            )
        except state.SeedError as exc:
            raise VercelError(str(exc)) from None
        how = "written" if seeded.written else "already there (left as it is)"
        self.say(f"state: {how} in the Blob store (generation {seeded.generation})")

    def step_deploy(self) -> None:
        """Upload, deploy to production, wait for READY: the webhook URL."""
        if self.built is None:
            self.step_build()
        assert self.built is not None
        project, t = self._project(), self.t
        dep = setup._deploy(self.api, project, self.built, t, self.say)
        self.say(f"deployment {dep.id}: {dep.readyState}, {len(self.built.files)} files")
        dep = self.api.wait(
            dep.id, sleep=self.sleep, on_state=lambda s: self.say(f"deployment {dep.id}: {s}")
        )
        self.dep = dep
        self.url = f"https://{setup.production_host(dep, t.project)}{bundle.WEBHOOK_PATH}"
        self.say(f"webhook: {self.url}")

    def step_remember(self) -> None:
        """``DIR/vercel-deploy.json``: where the wallet went."""
        assert self.dep is not None and self.built is not None
        record = {
            "project": self.t.project,
            "project_id": self._project().id,
            "blob_store": self.store_id,
            "deployment": self.dep.id,
            "url": self.url,
            "bundle": self.built.digest,
        }
        (self.t.data_dir / setup.STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")

    def _wallet_id(self) -> str:
        if not self.wallet_id:
            from functions.local.datadir import DataDir

            self.wallet_id = DataDir(self.t.data_dir).config().wallet_id
        return self.wallet_id


def deploy(
    api: Api,
    t: setup.Target,
    *,
    say: Callable[[str], None] = _say,
    sleep: Callable[[float], None] = time.sleep,
) -> setup.Outcome:
    """Everything but the watcher registration (``register``): ``steps.Deployment``'s
    steps in order."""
    d = Deployment(api, t, say=say, sleep=sleep)
    wallet_done = False
    try:
        for step in Deployment.STEPS:
            d.run(step)
            wallet_done = wallet_done or step == "wallet"
    except VercelError as exc:
        if wallet_done and d.uri is not None:  # the first connection's only copy: hand it over
            exc.args = (
                f"{exc.args[0]}\n(run the same command again to finish; the wallet's "
                f"first connection, usable once it finishes:\n{d.uri}\n)",
            )
        raise
    assert d.dep is not None and d.built is not None
    return setup.Outcome(d.url, d.wallet_id, d.created, d.dep.id, d.built.digest, d.uri)
