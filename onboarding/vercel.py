"""The Vercel deploy job: ``deploy.vercel.steps.Deployment``'s steps, one at a time, plus the
service's own two (watcher registration, first answer).

Authorisation is a Vercel access token the user creates (vercel.com/account/tokens, with an
expiry and the team's scope) and pastes once; it lives in the job's memory and is *deleted*
through the API (``DELETE /v3/user/tokens/current``) as soon as the code is deployed, so it
is dead even if a copy leaked. Why not OAuth: "Sign in with Vercel" grants identity scopes
only (openid, email, profile, offline_access), not the right to create projects, stores or
deployments; an Integration's OAuth grant needs an integration registered with Vercel and
lives until the user removes it (docs/onboarding.md).
"""

from __future__ import annotations

from typing import Any

from onboarding.jobs import Job, JobStore, Step, StepError
from onboarding.settings import Settings

VERCEL_STEPS = [
    ("token", "Check your access token"),
    ("project", "Create the project"),
    ("wallet", "Create your wallet"),
    ("env", "Set the project's environment"),
    ("store", "Create the private Blob store"),
    ("state", "Store the sealed wallet"),
    ("deploy", "Build and deploy the signer's code"),
    ("register", "Register with the relay-watcher"),
    ("connect", "First connection: your wallet answers"),
]
# what a new name re-does: the project and its store follow the name; the wallet stays
RENAMED = ("project", "env", "store", "state")


def vercel_job(store: JobStore, settings: Settings, bundles: Any, name: str, token: str) -> Job:
    from deploy.vercel.setup import Target
    from deploy.vercel.steps import Deployment
    from onboarding.platforms import _make_wallet

    job = store.new("vercel", name, [Step(k, label) for k, label in VERCEL_STEPS])
    job.wallet_dir.mkdir(mode=0o700)
    job.secrets.token = token
    target = Target(
        data_dir=job.wallet_dir / "wallet",
        project=name,
        backend="cashu",
        mint_url=settings.mint_url,
        relays=list(settings.relays),
        out_dir=bundles.root / "vercel",
        blob_api_url=settings.vercel_blob_api_url,
        blob_store_url=settings.vercel_blob_store_url,
    )
    job.context["data_dir"] = target.data_dir
    job.context["deployment"] = Deployment(
        None,  # type: ignore[arg-type]  # set by each step from the job's token
        target,
        make_wallet=_make_wallet(job, settings),
    )
    for key, _ in VERCEL_STEPS:
        job.work[key] = _step(key, settings, bundles)
    return job


def new_token(job: Job, token: str) -> None:
    job.secrets.token = token


def rename(job: Job, name: str) -> None:
    """A new project name after "name taken": the project, its environment, its store and
    the state step run again under it (the wallet made earlier is kept)."""
    d = job.context["deployment"]
    d.t.project, d.project, d.store_id = name, None, ""
    job.name = name
    for s in job.steps:
        if s.key in RENAMED:
            s.status = "pending"


def _api(job: Job, settings: Settings) -> Any:
    from deploy.vercel.api import Api

    if job.secrets.token is None:
        raise StepError(
            "This deploy needs a Vercel access token again: paste one (the deploy continues "
            "at this step).",
            "token",
        )
    return Api(
        job.secrets.token, team=settings.vercel_team, base_url=settings.vercel_api_url or None
    )


def _step(key: str, settings: Settings, bundles: Any) -> Any:
    def work(job: Job) -> None:
        from deploy.vercel.api import TokenRefused, VercelError
        from deploy.vercel.setup import NameTaken
        from onboarding.platforms import _connect, _register, watcher_pubkey

        if key == "register":
            return _register(job, settings, VercelError)
        if key == "connect":
            return _connect(job, settings)
        d = job.context["deployment"]
        d.say = job.say(key)
        try:
            d.api = _api(job, settings)
            if key == "token":
                d.t.watcher_pubkey = d.t.watcher_pubkey or watcher_pubkey(settings)
                d.built = bundles.vercel()
                d.run("build")
                d.run("token")
                job.code_hash = d.built.digest
            elif key == "deploy":
                d.run("deploy")
                d.run("remember")
            else:
                d.run(key)
        except NameTaken as exc:
            why = str(exc).split(";")[0]
            raise StepError(
                f"The name {d.t.project} cannot be used: {why}. Nothing of it is touched. "
                "Choose another name and continue.",
                "rename",
            ) from None
        except TokenRefused:
            job.secrets.token = None
            raise StepError(
                "Vercel no longer accepts this access token (it expired, was deleted, or "
                "cannot reach this account or team). Paste a valid one: the deploy continues "
                "at this step.",
                "token",
            ) from None
        except VercelError as exc:
            text = str(exc).split("\n")[0]
            if key == "deploy" and "ERROR" in text:
                raise StepError(
                    f"Vercel could not build the signer ({text}). Nothing else changed: try "
                    "this step again; if it keeps failing, look at the deployment's build "
                    "log in Vercel's dashboard.",
                ) from None
            raise StepError(
                f"Vercel refused this step: {text}. Try again; if it keeps failing, check "
                "the project in Vercel's dashboard."
            ) from None
        if key == "state":
            job.wallet_made = True
        if key == "deploy":
            job.url = d.url
            if _forget_token(job, d):
                job.say(key)(f"{d.url} (access token deleted: this service can no longer act)")
            else:
                job.say(key)(
                    f"{d.url} (the access token could not be deleted: delete it at "
                    "vercel.com/account/tokens; this service has forgotten it)"
                )

    return work


def _forget_token(job: Job, d: Any) -> bool:
    """The token deletes itself (True); if Vercel does not take that, it is only dropped
    here (it still expires) and the step's line asks the user to delete it."""
    api, d.api = d.api, None
    job.secrets.token = None
    try:
        api.revoke_token()
        return True
    except Exception:  # best effort: the step's line says what to do
        return False
    finally:
        api.close()
