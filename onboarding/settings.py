"""The service's settings: environment variables with embedded defaults, so that
``python -m onboarding`` runs against the local stack of ``./scripts/run`` as it is."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Cloudflare's OAuth endpoints (the ones wrangler's `login` uses)
CF_AUTHORIZE_URL = "https://dash.cloudflare.com/oauth2/auth"
CF_TOKEN_URL = "https://dash.cloudflare.com/oauth2/token"  # noqa: S105 (a URL)
CF_REVOKE_URL = "https://dash.cloudflare.com/oauth2/revoke"
# The narrowest scopes that create an R2 bucket and a D1 database, upload a Worker, set its
# secrets and switch on its workers.dev route: account:read (find the account),
# workers:write (R2 buckets and the workers.dev subdomain: wrangler's r2 commands run on
# it, there is no R2-only scope), workers_scripts:write (upload, secrets, route), d1:write.
# No offline_access: no refresh token is issued, so the authorisation dies on its own.
CF_SCOPES = ("account:read", "workers:write", "workers_scripts:write", "d1:write")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"NWC_ONBOARDING_{name}", default).strip()


@dataclass
class Settings:
    """Everything the operator may set; each has a default (``NWC_ONBOARDING_<NAME>``)."""

    public_url: str = "http://127.0.0.1:8800"  # where users reach this service
    work_dir: Path = Path(".nwc-onboarding")  # job progress (no secrets), built bundles
    watcher_url: str = "http://127.0.0.1:8790"  # the relay-watcher wallets register with
    watcher_pubkey: str = ""  # empty: asked of the watcher (GET /v1/watcher)
    mint_url: str = "http://127.0.0.1:3338"  # the Cashu mint new wallets use
    relays: list[str] = field(default_factory=lambda: ["ws://127.0.0.1:7777"])
    cf_client_id: str = ""  # the operator's Cloudflare OAuth client
    cf_client_secret: str = ""  # empty: a public client (PKCE only)
    cf_authorize_url: str = CF_AUTHORIZE_URL
    cf_token_url: str = CF_TOKEN_URL
    cf_revoke_url: str = CF_REVOKE_URL
    cf_api_url: str = ""  # empty: the SDK's default (api.cloudflare.com/client/v4)
    deno_api_url: str = ""  # empty: https://api.deno.com/v2
    vercel_api_url: str = ""  # empty: https://api.vercel.com
    vercel_team: str = ""  # empty: the token owner's own account (team_… or a team's slug)
    aws_region: str = "eu-west-1"
    job_ttl_s: int = 3600  # an unfinished deploy's secrets are dropped after this long idle
    connect_timeout_s: float = 120.0  # the first connection must answer within this
    # test/dev wiring only: where the watcher reaches a deployed URL (None: the URL itself)
    function_url_for: Callable[[str], str] | None = None
    # test/dev wiring only: the Blob API and content host the deploy writes the first state
    # to (None: Vercel's own, from the store's token)
    vercel_blob_api_url: str | None = None
    vercel_blob_store_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        s = cls()
        s.public_url = _env("PUBLIC_URL", s.public_url).rstrip("/")
        s.work_dir = Path(_env("WORK_DIR", str(s.work_dir)))
        s.watcher_url = _env("WATCHER_URL", s.watcher_url).rstrip("/")
        s.watcher_pubkey = _env("WATCHER_PUBKEY", s.watcher_pubkey)
        s.mint_url = _env("MINT_URL", s.mint_url)
        s.relays = [r for r in _env("RELAYS", ",".join(s.relays)).split(",") if r]
        s.cf_client_id = _env("CF_CLIENT_ID", s.cf_client_id)
        s.cf_client_secret = _env("CF_CLIENT_SECRET", s.cf_client_secret)
        s.cf_api_url = _env("CF_API_URL", s.cf_api_url)
        s.deno_api_url = _env("DENO_API_URL", s.deno_api_url)
        s.vercel_api_url = _env("VERCEL_API_URL", s.vercel_api_url)
        s.vercel_team = _env("VERCEL_TEAM", s.vercel_team)
        s.aws_region = _env("AWS_REGION", s.aws_region)
        return s

    @property
    def cf_redirect_uri(self) -> str:
        return f"{self.public_url}/cloudflare/callback"
