"""The Deno Deploy v2 REST API calls of a deploy, over httpx.

Base URL ``https://api.deno.com/v2``, ``Authorization: Bearer <token>``; the organization is
the token's own (an organization access token, ``ddo_...``). Every answer is checked against
the shapes in ``schema.py`` (derived from the published docs and the official SDK); a
mismatch is an error, not a guess.

The official Python SDK of this API (PyPI ``deno-sandbox``) needs Python ≥ 3.14 and brings a
websocket sandbox client; the project supports 3.11, so the few calls are made here.

Failures become ``DenoError``: one line with the API's own message, never the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel

from deploy.deno import schema
from deploy.rest import RestApi

DEFAULT_BASE_URL = "https://api.deno.com/v2"
BASE_URL_ENV = "DENO_DEPLOY_API_URL"  # the tests point it at a loopback fake


class DenoError(Exception):
    """A deploy step the API refused or could not be reached for: one line for the user."""


def _message(res: httpx.Response) -> str:
    try:
        body = res.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = body.get("message") or body.get("error")
        code = body.get("code")
        if isinstance(text, str) and text:
            text = " ".join(text.split())[:300]
            return f"{text} (code {code})" if isinstance(code, str) and code else text
    return f"HTTP {res.status_code}"


class Api(RestApi):
    """One organization's API, as its access token sees it."""

    error = DenoError
    service = "the Deno Deploy API"
    default_base_url = DEFAULT_BASE_URL
    base_url_env = BASE_URL_ENV
    auth_hint = " (check the access token: an organization token, ddo_...)"

    def message(self, res: httpx.Response) -> str:
        return _message(res)

    def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        missing_ok: bool = False,
    ) -> Any:
        """One request; its JSON answer, or None for a 404 when ``missing_ok``."""
        content = None if body is None else body.model_dump_json(exclude_none=True).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        return self.send(what, method, path, content=content, headers=headers, params=params,
                         ok=ok, missing_ok=missing_ok)  # fmt: skip

    # --- the calls --------------------------------------------------------------------

    def check_token(self) -> None:
        """``GET /apps?limit=1``: the cheapest call that proves the token before anything."""
        what = "checking the access token"
        data = self.call(what, "GET", "/apps", params={"limit": "1"})
        if not isinstance(data, list):
            raise DenoError(f"{what}: the API's answer is not a list of apps")
        for item in data:
            self.parse(what, schema.AppListItem, item)

    def get_app(self, app: str) -> schema.App | None:
        data = self.call(f"reading app {app}", "GET", f"/apps/{app}", missing_ok=True)
        return None if data is None else self.parse(f"reading app {app}", schema.App, data)

    def create_app(self, body: schema.CreateApp) -> schema.App:
        what = f"creating app {body.slug}"
        return self.parse(what, schema.App, self.call(what, "POST", "/apps", body=body))

    def update_app(self, app: str, body: schema.UpdateApp) -> schema.App:
        what = f"updating app {app}"
        return self.parse(what, schema.App, self.call(what, "PATCH", f"/apps/{app}", body=body))

    def deploy(self, app: str, body: schema.DeployRequest) -> schema.Revision:
        what = f"deploying a revision of {app}"
        data = self.call(what, "POST", f"/apps/{app}/deploy", body=body, ok=(200, 201, 202))
        return self.parse(what, schema.Revision, data)

    def revision(self, revision_id: str) -> schema.Revision:
        what = f"reading revision {revision_id}"
        return self.parse(
            what, schema.Revision, self.call(what, "GET", f"/revisions/{revision_id}")
        )

    def wait(
        self,
        revision_id: str,
        *,
        timeout_s: float = 900.0,
        interval_s: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[str], None] | None = None,
    ) -> schema.Revision:
        """Poll ``GET /revisions/{id}`` until the build is over; the revision if it succeeded."""
        from deploy.common import poll

        def failed(rev: schema.Revision) -> str | None:
            if rev.status not in schema.TERMINAL:
                return None
            return rev.status + (f": {rev.failure_reason}" if rev.failure_reason else "")

        return poll(lambda: self.revision(revision_id), lambda rev: rev.status,
                    ready=lambda rev: rev.status == "succeeded", failed=failed,
                    what=f"revision {revision_id}", error=DenoError, timeout_s=timeout_s,
                    interval_s=interval_s, sleep=sleep, clock=clock,
                    on_state=on_status)  # fmt: skip

    def timelines(self, revision_id: str) -> list[schema.Timeline]:
        what = f"reading revision {revision_id}'s timelines"
        data = self.call(what, "GET", f"/revisions/{revision_id}/timelines")
        if not isinstance(data, list):
            raise DenoError(f"{what}: the API's answer is not a list of timelines")
        return [self.parse(what, schema.Timeline, t) for t in data]

    def production_url(self, revision_id: str) -> str:
        """The production timeline's first domain (``https://<app>.<org>.deno.net``)."""
        timelines = self.timelines(revision_id)
        for t in sorted(timelines, key=lambda t: (t.context or {}).get("slug") != "production"):
            if t.domains:
                return f"https://{t.domains[0].domain}"
        raise DenoError(f"revision {revision_id} has no domain yet: pass the app's URL with --url")
