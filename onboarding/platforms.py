"""The deploy jobs of each platform, as steps over the same code ``nwc-signer deploy …`` runs
(``deploy.cloudflare.steps.Deployment``, ``deploy.deno.setup.Deployment``; Vercel's in
``onboarding/vercel.py`` over ``deploy.vercel.steps.Deployment``), plus the two
steps only the service has: registering with the watcher and waiting for the first answer.

Each step turns the deploy code's errors into what the user does next (``StepError.action``).
The token is dropped from memory, and revoked where the platform allows it, as soon as the
last step that needs it is done.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import httpx

from onboarding.jobs import Job, JobStore, Step, StepError
from onboarding.settings import Settings

log = logging.getLogger("onboarding.platforms")

CF_STEPS = [
    ("account", "Check your Cloudflare authorisation"),
    ("bucket", "Create the R2 bucket for the sealed wallet"),
    ("database", "Create the D1 database for the rollback guard"),
    ("upload", "Upload the signer's code"),
    ("wallet", "Create your wallet"),
    ("secrets", "Set the Worker's secrets"),
    ("state", "Store the sealed wallet"),
    ("route", "Switch on the Worker's address"),
    ("register", "Register with the relay-watcher"),
    ("connect", "First connection: your wallet answers"),
]
DENO_STEPS = [
    ("token", "Check your access token"),
    ("app", "Create the app"),
    ("wallet", "Create your wallet"),
    ("env", "Set the app's environment"),
    ("revision", "Deploy the signer's code"),
    ("seed", "Store the sealed wallet in Deno KV"),
    ("register", "Register with the relay-watcher"),
    ("connect", "First connection: your wallet answers"),
]


class Bundles:
    """The code every deploy uploads, built once per service start (and its hash)."""

    def __init__(self, work_dir: Path) -> None:
        self.root = Path(work_dir) / "bundles"
        self.lock = threading.Lock()
        self._cf: Any = None
        self._deno: Any = None
        self._vercel: Any = None

    def cloudflare(self) -> Any:
        from deploy.cloudflare import bundle

        with self.lock:
            if self._cf is None:
                self._cf = bundle.build(self.root / "cloudflare")
            return self._cf

    def cloudflare_hash(self) -> str:
        from deploy.cloudflare import bundle

        return bundle.code_hash(self.cloudflare().modules)

    def deno(self) -> Any:
        from deploy.deno import bundle

        with self.lock:
            if self._deno is None:
                self._deno = bundle.build(self.root / "deno")
            return self._deno

    def deno_hash(self) -> str:
        from deploy.deno import bundle

        return bundle.code_hash(self.deno())

    def vercel(self) -> Any:
        from deploy.vercel import bundle

        with self.lock:
            if self._vercel is None:
                self._vercel = bundle.build(self.root / "vercel")
            return self._vercel


def watcher_pubkey(settings: Settings) -> str:
    """The watcher's key: configured, or asked of the watcher itself."""
    if settings.watcher_pubkey:
        return settings.watcher_pubkey
    try:
        res = httpx.get(f"{settings.watcher_url}/v1/watcher", timeout=10)
        res.raise_for_status()
        return str(res.json()["watcher_pubkey"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise StepError(_watcher_down(settings, type(exc).__name__)) from None


def _watcher_down(settings: Settings, why: str) -> str:
    return (
        f"The relay-watcher at {settings.watcher_url} did not answer ({why}). Try again in "
        "a minute; if it keeps failing, tell the operator of this service."
    )


def _make_wallet(job: Job, settings: Settings) -> Any:
    """The wallet step's work: a Cashu wallet in the job's private folder; its recovery
    phrase and first connection stay in the job's memory, to be shown once."""

    def make(t: Any, say: Any) -> tuple[bool, str | None]:
        from functions.local.datadir import DataDir
        from nwc_signer.wallet import add_local_connection, create_local_wallet

        if DataDir(t.data_dir).exists():
            say("wallet: made earlier in this deploy (reused)")
            return False, None
        made = create_local_wallet(
            t.data_dir,
            backend="cashu",
            mint_url=settings.mint_url,
            relays=settings.relays,
            watcher_pubkey=t.watcher_pubkey,
        )
        conn = add_local_connection(t.data_dir, "first")
        home = add_local_connection(t.data_dir, "home page", admin=True)
        job.secrets.mnemonic, job.secrets.uri = made.mnemonic, conn.uri
        job.secrets.admin_uri = home.uri
        say(f"wallet {made.wallet_id} created; its recovery phrase is shown once, at the end")
        return True, conn.uri

    return make


def _register(job: Job, settings: Settings, error: type[Exception]) -> None:
    from deploy import common

    function_url = settings.function_url_for(job.url) if settings.function_url_for else job.url
    try:
        answer = common.register(
            job.context["data_dir"], settings.relays, settings.watcher_url, function_url, error
        )
    except error as exc:
        why = str(exc).rsplit(": ", 1)[-1]
        raise StepError(
            "Your signer is deployed; only its registration with the relay-watcher is missing. "
            + _watcher_down(settings, why)
        ) from None
    job.say("register")(f"registered {answer.get('wallet_pubkey', '')} at {settings.watcher_url}")


def _connect(job: Job, settings: Settings) -> None:
    from nwc_signer.dev.ready import NotServing, wait_until_serving

    if job.secrets.uri is None:
        raise StepError(
            "This deploy lost its first connection (the service restarted): start again.",
            "start_over",
        )
    try:
        seen = wait_until_serving(job.secrets.uri, timeout=settings.connect_timeout_s)
    except NotServing as exc:
        raise StepError(
            f"Your wallet is deployed but did not answer yet ({exc}). Try again; "
            "a first start can take a minute."
        ) from None
    except Exception as exc:  # relays unreachable from here
        raise StepError(f"The relays did not answer ({type(exc).__name__}). Try again.") from None
    job.say("connect")(f"get_info answered through the relays in {seen.seconds:.1f} s")


# --- Cloudflare ---------------------------------------------------------------------------


def cloudflare_job(store: JobStore, settings: Settings, bundles: Bundles, name: str) -> Job:
    from deploy.cloudflare.setup import Target
    from deploy.cloudflare.steps import Deployment

    job = store.new("cloudflare", name, [Step(k, label) for k, label in CF_STEPS])
    job.wallet_dir.mkdir(mode=0o700)
    target = Target(
        data_dir=job.wallet_dir / "wallet",
        name=name,
        mint_url=settings.mint_url,
        relays=list(settings.relays),
        out_dir=bundles.root / "cloudflare",
    )
    job.context["data_dir"] = target.data_dir
    job.context["deployment"] = Deployment(
        api=None,  # type: ignore[arg-type]  # set by each step from the job's token
        t=target,
        make_wallet=_make_wallet(job, settings),
    )
    for key, _ in CF_STEPS:
        job.work[key] = _cf_step(key, settings, bundles)
    return job


def rename(job: Job, name: str) -> None:
    """A new name after "name taken" (Cloudflare: the bucket and database follow it;
    Vercel: the project and its Blob store)."""
    d = job.context["deployment"]
    if job.platform == "deno":
        d.t.app = name
    else:
        d.t.name, d.t.bucket, d.t.database = name, f"{name}-state", f"{name}-guard"
    job.name = name


def _cf_api(job: Job, settings: Settings) -> Any:
    from deploy.cloudflare.api import Api

    if job.secrets.token is None:
        raise StepError("This deploy needs your Cloudflare authorisation again.", "authorise")
    return Api(
        job.secrets.token, job.context.get("account_id"), base_url=settings.cf_api_url or None
    )


def _cf_step(key: str, settings: Settings, bundles: Bundles) -> Any:
    def work(job: Job) -> None:
        from deploy.cloudflare.api import CloudflareError
        from deploy.cloudflare.steps import WalletMismatch

        if key == "register":
            return _register(job, settings, CloudflareError)
        if key == "connect":
            return _connect(job, settings)
        d = job.context["deployment"]
        d.say = job.say(key)
        try:
            d.api = _cf_api(job, settings)
            if key == "account":
                d.t.watcher_pubkey = d.t.watcher_pubkey or watcher_pubkey(settings)
                d.built = bundles.cloudflare()
                d.run("build")
                d.run("account")
                job.context["account_id"] = d.api.account_id
                job.code_hash = bundles.cloudflare_hash()
            else:
                d.run(key)
        except WalletMismatch:
            raise StepError(
                f"The name {d.t.name} is taken: your account's bucket {d.t.bucket} "
                "already holds another wallet (it is left untouched). Choose another "
                "name and continue.",
                "rename",
            ) from None
        except CloudflareError as exc:
            text = str(exc).split("\n")[0]
            if "code 10000" in text or "Authentication error" in text:
                job.secrets.token = None
                raise StepError(
                    "Cloudflare no longer accepts this authorisation (it expired or "
                    "was withdrawn). Authorise again: the deploy continues at this "
                    "step.",
                    "authorise",
                ) from None
            raise StepError(
                f"Cloudflare refused this step: {text}. Try again; if it keeps "
                "failing, check the account in Cloudflare's dashboard."
            ) from None
        if key == "state":
            job.wallet_made = True
        if key == "route":
            job.url = d.url
            revoke = job.context.get("revoke")
            token, job.secrets.token = job.secrets.token, None
            d.api = None
            if revoke is not None and token is not None:
                revoke(token)
            job.say(key)(f"{d.url} (authorisation revoked: this service can no longer act)")

    return work


# --- Deno Deploy --------------------------------------------------------------------------


def deno_job(store: JobStore, settings: Settings, bundles: Bundles, name: str, token: str) -> Job:
    from deploy.deno.api import Api
    from deploy.deno.setup import Deployment, Target

    job = store.new("deno", name, [Step(k, label) for k, label in DENO_STEPS])
    job.wallet_dir.mkdir(mode=0o700)
    job.secrets.token = token
    target = Target(
        data_dir=job.wallet_dir / "wallet",
        app=name,
        mint_url=settings.mint_url,
        relays=list(settings.relays),
        out_dir=bundles.root / "deno",
    )
    job.context["data_dir"] = target.data_dir
    job.context["deployment"] = Deployment(
        Api(token, base_url=settings.deno_api_url or None),
        target,
        make_wallet=_make_wallet(job, settings),
    )
    for key, _ in DENO_STEPS:
        job.work[key] = _deno_step(key, settings, bundles)
    return job


def new_deno_token(job: Job, settings: Settings, token: str) -> None:
    from deploy.deno.api import Api

    job.secrets.token = token
    job.context["deployment"].api = Api(token, base_url=settings.deno_api_url or None)


def _deno_step(key: str, settings: Settings, bundles: Bundles) -> Any:
    def work(job: Job) -> None:
        from deploy.deno.api import DenoError
        from deploy.deno.setup import WalletMismatch

        if key == "register":
            return _register(job, settings, DenoError)
        if key == "connect":
            return _connect(job, settings)
        d = job.context["deployment"]
        d.say = job.say(key)
        try:
            if key == "token":
                d.t.watcher_pubkey = d.t.watcher_pubkey or watcher_pubkey(settings)
                d.built = bundles.deno()
                d.run("build")
                d.run("token")
                job.code_hash = bundles.deno_hash()
            elif key == "seed":
                d.run("url")
                d.run("seed")
                d.run("remember")
            else:
                d.run(key)
        except WalletMismatch as exc:
            raise StepError(f"{exc}. Choose another name and continue.", "rename") from None
        except DenoError as exc:
            text = str(exc).split("\n")[0]
            if "check the access token" in text:
                raise StepError(
                    "Deno Deploy no longer accepts this access token. Paste a valid "
                    "one: the deploy continues at this step.",
                    "token",
                ) from None
            raise StepError(f"{text}.", "retry") from None
        if key == "seed":
            job.wallet_made, job.url = True, d.url
            job.secrets.token = None  # Deno's API cannot revoke it: the page says to delete it
            d.api.close()
            job.say(key)(f"{d.url} (access token forgotten: delete it in Deno's console)")

    return work


__all__ = ["Bundles", "cloudflare_job", "deno_job", "new_deno_token", "rename", "JobStore"]
