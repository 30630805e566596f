"""The Vercel REST API calls of a deploy, over httpx.

Base URL ``https://api.vercel.com``, ``Authorization: Bearer <token>``; a team's resources
with ``?teamId=`` (or ``?slug=``) on every call (``team``), else the token owner's own
account. Every answer is checked against the shapes in ``schema.py``; a mismatch is an
error, not a guess. Errors come as ``{"error": {"code", "message"}}`` (docs: rest-api/errors).

The official SDKs of this API are TypeScript (``@vercel/sdk``) and Go (the Terraform
provider's client); the dozen calls are made here rather than adding a dependency.

Failures become ``VercelError``: one line with the API's own message, never the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel

from deploy.rest import RestApi
from deploy.vercel import schema

DEFAULT_BASE_URL = "https://api.vercel.com"
BASE_URL_ENV = "VERCEL_API_URL"  # the tests point it at a loopback fake


class VercelError(Exception):
    """A deploy step the API refused or could not be reached for: one line for the user."""


class TokenRefused(VercelError):
    """401/403: the token expired, was deleted, or lacks the scope (the user acts)."""


class MissingFilesError(VercelError):
    """``POST /v13/deployments`` named files it has not got (``missing_files``)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def _error(res: httpx.Response) -> dict[str, Any]:
    try:
        body = res.json()
    except ValueError:
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _message(res: httpx.Response) -> str:
    err = _error(res)
    text, code = err.get("message"), err.get("code")
    if isinstance(text, str) and text:
        text = " ".join(text.split())[:300]
        return f"{text} (code {code})" if isinstance(code, str) and code else text
    return f"HTTP {res.status_code}"


class Api(RestApi):
    """One account's (or one team's) API, as its access token sees it."""

    error = VercelError
    service = "the Vercel API"
    default_base_url = DEFAULT_BASE_URL
    base_url_env = BASE_URL_ENV
    auth_hint = " (check the access token, and --team for a team's projects)"

    def __init__(
        self,
        token: str,
        *,
        team: str = "",
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
    ) -> None:
        super().__init__(token, base_url=base_url, transport=transport, timeout=timeout)
        self.team = team

    def message(self, res: httpx.Response) -> str:
        return _message(res)

    def refused(self, what: str, res: httpx.Response) -> Exception:
        err = _error(res)
        if err.get("code") == "missing_files" and isinstance(err.get("missing"), list):
            return MissingFilesError(f"{what}: {_message(res)}", [str(m) for m in err["missing"]])
        if res.status_code in (401, 403):
            return TokenRefused(f"{what}: {_message(res)}{self.auth_hint}")
        return super().refused(what, res)

    def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        missing_ok: bool = False,
    ) -> Any:
        """One request; its JSON answer, or None for a 404 when ``missing_ok``."""
        headers = dict(headers or {})
        if body is not None:
            content = body.model_dump_json(exclude_unset=True).encode()
            headers["Content-Type"] = "application/json"
        query = dict(params or {})
        if self.team:  # a team's id (team_...) or its slug
            query["teamId" if self.team.startswith("team_") else "slug"] = self.team
        return self.send(what, method, path, content=content, headers=headers, params=query,
                         ok=ok, missing_ok=missing_ok, empty={})  # fmt: skip

    # --- account and project ----------------------------------------------------------

    def check_token(self) -> schema.UserAnswer:
        """``GET /v2/user``: the cheapest call that proves the token before anything."""
        what = "checking the access token"
        return self.parse(what, schema.UserAnswer, self.call(what, "GET", "/v2/user"))

    def revoke_token(self) -> None:
        """``DELETE /v3/user/tokens/current``: the token invalidates itself (docs:
        rest-api/authentication/delete-an-authentication-token, tokenId "current")."""
        self.call("revoking the access token", "DELETE", "/v3/user/tokens/current")

    def get_project(self, name: str) -> schema.Project | None:
        what = f"reading project {name}"
        data = self.call(what, "GET", f"/v9/projects/{name}", missing_ok=True)
        return None if data is None else self.parse(what, schema.Project, data)

    def create_project(self, body: schema.CreateProject) -> schema.Project:
        what = f"creating project {body.name}"
        data = self.call(what, "POST", "/v11/projects", body=body, ok=(200, 201))
        return self.parse(what, schema.Project, data)

    def env(self, project_id: str) -> list[schema.EnvVar]:
        what = "reading the project's environment variables"
        data = self.call(what, "GET", f"/v10/projects/{project_id}/env")
        return self.parse(what, schema.EnvList, data).envs

    def set_env(self, project_id: str, items: list[schema.EnvVarInput]) -> None:
        """Create or update (``upsert=true``) the variables; any ``failed`` item is an error."""
        what = "setting the project's environment variables"
        data = self.call(
            what,
            "POST",
            f"/v10/projects/{project_id}/env",
            body=schema.EnvBody(items),
            params={"upsert": "true"},
            ok=(200, 201),
        )
        answer = self.parse(what, schema.EnvCreated, data)
        if answer.failed:
            err = answer.failed[0].error
            key = f"{err.key}: " if err.key else ""
            raise VercelError(f"{what}: {key}{err.message} (code {err.code})")

    # --- files and deployments --------------------------------------------------------

    def upload(self, sha: str, data: bytes) -> None:
        """``POST /v2/files``: the bytes, addressed by their SHA1 (``x-vercel-digest``)."""
        what = f"uploading file {sha}"
        headers = {
            "Content-Type": "application/octet-stream",
            "x-vercel-digest": sha,
            "Content-Length": str(len(data)),
        }
        answer = self.call(what, "POST", "/v2/files", content=data, headers=headers, ok=(200, 201))
        self.parse(what, schema.FileUploaded, answer)

    def create_deployment(self, body: schema.CreateDeployment) -> schema.Deployment:
        what = f"creating a deployment of {body.name}"
        data = self.call(
            what,
            "POST",
            "/v13/deployments",
            body=body,
            ok=(200, 201),
            params={"skipAutoDetectionConfirmation": "1"},
        )
        return self.parse(what, schema.Deployment, data)

    def deployment(self, deployment_id: str) -> schema.Deployment:
        what = f"reading deployment {deployment_id}"
        data = self.call(what, "GET", f"/v13/deployments/{deployment_id}")
        return self.parse(what, schema.Deployment, data)

    def wait(
        self,
        deployment_id: str,
        *,
        timeout_s: float = 900.0,
        interval_s: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_state: Callable[[str], None] | None = None,
    ) -> schema.Deployment:
        """Poll ``GET /v13/deployments/{id}`` until READY (with its aliases) or a failure."""
        from deploy.common import poll

        def failed(dep: schema.Deployment) -> str | None:
            if dep.readyState not in ("ERROR", "CANCELED"):
                return None
            code = f" ({dep.errorCode})" if dep.errorCode else ""
            return dep.readyState + code + (f": {dep.errorMessage}" if dep.errorMessage else "")

        return poll(lambda: self.deployment(deployment_id), lambda dep: dep.readyState,
                    ready=lambda dep: dep.readyState == "READY" and bool(dep.aliasAssigned),
                    failed=failed, what=f"deployment {deployment_id}", error=VercelError,
                    timeout_s=timeout_s, interval_s=interval_s, sleep=sleep, clock=clock,
                    on_state=on_state)  # fmt: skip

    # --- the Blob store ---------------------------------------------------------------

    def stores(self) -> list[schema.BlobStore]:
        what = "listing the storage stores"
        return self.parse(
            what, schema.BlobStores, self.call(what, "GET", "/v1/storage/stores")
        ).stores

    def create_store(self, body: schema.CreateBlobStore) -> schema.BlobStore:
        what = f"creating Blob store {body.name}"
        data = self.call(what, "POST", "/v1/storage/stores/blob", body=body, ok=(200, 201))
        return self.parse(what, schema.BlobStoreAnswer, data).store

    def connections(self, store_id: str) -> list[schema.Connection]:
        what = f"reading the connections of Blob store {store_id}"
        data = self.call(what, "GET", f"/v1/storage/stores/{store_id}/connections")
        return self.parse(what, schema.Connections, data).connections

    def connect(self, store_id: str, body: schema.CreateConnection) -> None:
        what = f"connecting Blob store {store_id} to the project"
        self.call(
            what, "POST", f"/v1/storage/stores/{store_id}/connections", body=body, ok=(200, 201)
        )

    def store_token(self, store_id: str) -> str:
        """The store's read-write token (for the first state only; never printed)."""
        what = f"reading Blob store {store_id}'s read-write token"
        data = self.call(what, "GET", f"/v1/storage/stores/{store_id}/secrets")
        return self.parse(what, schema.StoreSecrets, data).rwToken
