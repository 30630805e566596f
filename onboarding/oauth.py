"""Cloudflare's OAuth authorization code flow with PKCE (S256), through authlib.

The service is an OAuth client of the user's Cloudflare account for the few minutes of a
deploy: it asks for the narrowest scopes (settings.CF_SCOPES, no ``offline_access``), keeps
the access token in the deploy's memory only, and revokes it once the last step that needs
it is done. The state and the code verifier live in memory, keyed by the state.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

from onboarding.settings import CF_SCOPES, Settings

with warnings.catch_warnings():  # authlib 1.9 warns that its httpx module moves to httpx2
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token  # type: ignore[import-untyped]
    from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]


class OAuthError(Exception):
    """The authorisation did not complete; the message says what to do next."""


@dataclass
class Pending:
    job_id: str
    verifier: str


class CloudflareOAuth:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: dict[str, Pending] = {}
        self.lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.settings.cf_client_id)

    def client(self) -> Any:
        s = self.settings
        return OAuth2Client(
            client_id=s.cf_client_id,
            client_secret=s.cf_client_secret or None,
            token_endpoint_auth_method="client_secret_post" if s.cf_client_secret else "none",
            scope=" ".join(CF_SCOPES),
            redirect_uri=s.cf_redirect_uri,
            code_challenge_method="S256",
            timeout=30,
        )

    def start(self, job_id: str) -> str:
        """The authorization URL to send the browser to (a new state and verifier)."""
        verifier = generate_token(64)
        with self.client() as client:
            url, state = client.create_authorization_url(
                self.settings.cf_authorize_url, code_verifier=verifier
            )
        with self.lock:
            self.pending[state] = Pending(job_id, verifier)
        return str(url)

    def finish(self, state: str, code: str | None, error: str | None) -> tuple[str, str]:
        """(job id, access token) for the callback's parameters; OAuthError otherwise."""
        with self.lock:
            pending = self.pending.pop(state, None)
        if pending is None:
            raise OAuthError(
                "This authorisation link is unknown or was already used: start "
                "the authorisation again."
            )
        if error:
            raise OAuthError(
                "You declined the authorisation, so nothing was made in your Cloudflare account. "
                "Authorise again when you are ready."
                if error == "access_denied"
                else f"Cloudflare did not authorise this service ({error[:80]}). Try again."
            )
        if not code:
            raise OAuthError("Cloudflare sent no authorisation code: try again.")
        try:
            with self.client() as client:
                token = client.fetch_token(
                    self.settings.cf_token_url, code=code, code_verifier=pending.verifier
                )
        except Exception as exc:  # authlib raises OAuthError subclasses and httpx errors
            raise OAuthError(
                f"Cloudflare did not hand over the authorisation "
                f"({type(exc).__name__}): authorise again."
            ) from None
        access = token.get("access_token")
        if not access:
            raise OAuthError("Cloudflare's answer held no access token: authorise again.")
        return pending.job_id, str(access)

    def revoke(self, token: str) -> None:
        """Revoke the token (RFC 7009); a failure is not the user's problem: it expires."""
        try:
            with self.client() as client:
                hint = "access_token"  # noqa: S105 (a token type's name)
                client.revoke_token(self.settings.cf_revoke_url, token=token, token_type_hint=hint)
        except Exception:  # noqa: S110 (best effort: the token expires within the hour)
            pass
