"""The shapes of the Deno Deploy v2 REST API calls a deploy makes, as pydantic models.

No machine-readable schema of the v2 API is published where this project can read it offline:
the reference at https://api.deno.com/v2/docs is an interactive page. These models are
derived from the two published sources that spell the shapes out:

- the Deno docs' v1 → v2 migration guide (denoland/docs,
  subhosting/manual/api_migration_guide.md, https://docs.deno.com/subhosting/manual/api_migration_guide/):
  base URL, bearer token, ``POST /apps`` with ``slug``/``config``/``env_vars``,
  ``POST /apps/{app}/deploy`` with ``assets`` (``kind: file`` + ``content`` + ``encoding``),
  answered ``202`` with a revision, ``GET /revisions/{id}`` and its status values,
  snake_case everywhere;
- the official Python SDK of the v2 API, ``deno-sandbox`` (denoland/sandbox-py,
  ``src/deno_sandbox/apps.py``, ``revisions.py``, ``timelines.py``): the TypedDicts ``App``,
  ``EnvVar``, ``EnvVarInput``, ``EnvVarUpdate``, ``Config``, ``Runtime``, ``FileAsset``,
  ``Revision``, ``Timeline``, ``Domain`` that these models copy field by field.

Requests are ``extra="forbid"`` (the fake API refuses a body we would not send the real one);
answers are ``extra="allow"`` (the API may add fields). Limits from the docs
(deploy/reference/env_vars_and_contexts.md): keys ≤ 128 bytes, not starting with ``DENO_``,
``LD_`` or ``OTEL_``; values ≤ 16 KiB.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RevisionStatus = Literal["skipped", "queued", "building", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"skipped", "succeeded", "failed"})
_RESERVED_PREFIXES = ("DENO_", "LD_", "OTEL_")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_key(key: str) -> str:
    if not key or len(key.encode()) > 128 or key.startswith(_RESERVED_PREFIXES):
        raise ValueError(f"environment variable key {key!r} is not allowed")
    return key


# --- configuration ----------------------------------------------------------------------


class Runtime(_Request):
    type: Literal["dynamic", "static"]
    entrypoint: str | None = None
    args: list[str] | None = None
    cwd: str | None = None
    spa: bool | None = None


class Config(_Request):
    framework: (
        Literal[
            "",
            "nextjs",
            "astro",
            "nuxt",
            "remix",
            "solidstart",
            "tanstackstart",
            "sveltekit",
            "fresh",
            "lume",
        ]
        | None
    ) = None
    install: str | None = None
    build: str | None = None
    predeploy: str | None = None
    runtime: Runtime | None = None


class ConfigAnswer(_Answer):
    install: str | None = None
    build: str | None = None
    runtime: dict[str, object] | None = None


# --- environment variables ---------------------------------------------------------------


class EnvVarInput(_Request):
    key: str
    value: str = Field(max_length=16384)
    secret: bool | None = None
    contexts: Literal["all"] | list[str] | None = None

    _key = field_validator("key")(_check_key)


class EnvVarUpdate(_Request):
    id: str | None = None
    key: str | None = None
    value: str | None = Field(default=None, max_length=16384)
    secret: bool | None = None
    contexts: Literal["all"] | list[str] | None = None
    delete: bool | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return None if key is None else _check_key(key)


class EnvVar(_Answer):
    id: str
    key: str
    value: str | None = None  # omitted when secret
    secret: bool
    contexts: Literal["all"] | list[str]


# --- apps ------------------------------------------------------------------------------


class CreateApp(_Request):
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    labels: dict[str, str] | None = None
    layers: list[str] | None = None
    env_vars: list[EnvVarInput] | None = None
    config: Config | None = None


class UpdateApp(_Request):
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    labels: dict[str, str] | None = None
    layers: list[str] | None = None
    env_vars: list[EnvVarUpdate] | None = None
    config: Config | None = None


class App(_Answer):
    id: str
    slug: str
    env_vars: list[EnvVar] | None = None
    config: ConfigAnswer | None = None
    created_at: str
    updated_at: str


class AppListItem(_Answer):
    id: str
    slug: str
    created_at: str
    updated_at: str


# --- revisions -------------------------------------------------------------------------


class FileAsset(_Request):
    kind: Literal["file"]
    encoding: Literal["utf-8", "base64"]
    content: str


class DeployRequest(_Request):
    assets: dict[str, FileAsset]
    config: Config | None = None
    layers: list[str] | None = None
    env_vars: list[EnvVarInput] | None = None
    labels: dict[str, str] | None = None
    production: bool | None = None
    preview: bool | None = None


class Revision(_Answer):
    id: str
    status: RevisionStatus
    failure_reason: str | None = None
    created_at: str
    cancellation_requested_at: str | None = None
    build_finished_at: str | None = None
    deleted_at: str | None = None


class Domain(_Answer):
    domain: str


class Timeline(_Answer):
    slug: str
    partition: dict[str, str] = Field(default_factory=dict)
    app: dict[str, str] | None = None
    context: dict[str, str] | None = None
    domains: list[Domain]


# which model a call's JSON body and answer must match: (method, path pattern) → models
REQUESTS: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", r"/apps"): CreateApp,
    ("PATCH", r"/apps/[^/]+"): UpdateApp,
    ("POST", r"/apps/[^/]+/deploy"): DeployRequest,
}
ANSWERS: dict[tuple[str, str], type[BaseModel]] = {
    ("GET", r"/apps"): AppListItem,  # a list of them
    ("POST", r"/apps"): App,
    ("GET", r"/apps/[^/]+"): App,
    ("PATCH", r"/apps/[^/]+"): App,
    ("POST", r"/apps/[^/]+/deploy"): Revision,
    ("GET", r"/revisions/[^/]+"): Revision,
    ("GET", r"/revisions/[^/]+/timelines"): Timeline,  # a list of them
}
