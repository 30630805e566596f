"""The shapes of the Vercel REST API calls a deploy makes, as pydantic models.

Vercel publishes its OpenAPI document at https://openapi.vercel.sh, but no copy of it could
be read offline here: the official SDK repository (vercel/sdk) lists ``vercel-spec.json`` but
the stored snapshot lacks the file. These models are therefore written from:

- the reference pages generated from that document (vercel.com/docs/rest-api/...:
  ``POST /v11/projects``, ``GET /v9/projects/{idOrName}``, ``POST /v10/projects/{idOrName}/env``,
  ``GET /v10/projects/{idOrName}/env``, ``POST /v2/files``, ``POST /v13/deployments``,
  ``GET /v13/deployments/{idOrUrl}``, ``POST /storage/stores/blob``, ``GET /v2/user``);
- the official TypeScript SDK generated from it (vercel/sdk, ``src/models/createprojectregion.ts``,
  ``createprojectenvop.ts``, ``uploadfileop.ts``, ``createdeploymentresponsebody.ts``,
  ``createstoragestoresblobop.ts``): field names, enums (env ``type``, ``target``,
  ``readyState``, Blob ``access``/``region``);
- for the Blob store calls the API reference does not list (store list, project
  connections, the store's read-write token): Vercel's own clients, the CLI
  (vercel/vercel ``packages/cli/src/commands/blob/store-add.ts``,
  ``util/integration-resource/connect-resource-to-project.ts``) and the Terraform provider
  (vercel/terraform-provider-vercel ``client/blob_store.go``).

Requests are ``extra="forbid"`` (the fake API refuses a body the real one would not get);
answers are ``extra="allow"`` (the API adds fields freely). Bodies are sent with
``exclude_unset`` so an explicit ``None`` goes out as JSON ``null`` (``framework: null``).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

EnvType = Literal["system", "encrypted", "plain", "sensitive"]
EnvTarget = Literal["production", "preview", "development"]
ReadyState = Literal["BLOCKED", "BUILDING", "CANCELED", "ERROR", "INITIALIZING", "QUEUED", "READY"]
TERMINAL: frozenset[str] = frozenset({"CANCELED", "ERROR", "READY"})
Region = Literal[
    "arn1",
    "bom1",
    "cdg1",
    "cle1",
    "cpt1",
    "dub1",
    "dxb1",
    "fra1",
    "gru1",
    "hkg1",
    "hnd1",
    "iad1",
    "icn1",
    "kix1",
    "lhr1",
    "pdx1",
    "sfo1",
    "sin1",
    "syd1",
    "yul1",
]
REGIONS: tuple[str, ...] = get_args(Region)
PROJECT_NAME = r"^[a-z0-9._-]{1,100}$"  # lowercase, digits, . _ - (Vercel also refuses "---")
SHA1 = r"^[0-9a-f]{40}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- account and projects ---------------------------------------------------------------


class User(_Answer):
    id: str
    username: str | None = None


class UserAnswer(_Answer):
    """``GET /v2/user``: proves the token before anything is made."""

    user: User


class CreateProject(_Request):
    """``POST /v11/projects`` (only the fields a deploy sets)."""

    name: str = Field(pattern=PROJECT_NAME)
    framework: str | None = None
    buildCommand: str | None = None  # noqa: N815 (the API's names)
    installCommand: str | None = None  # noqa: N815


class Project(_Answer):
    """``GET /v9/projects/{idOrName}`` and the answer of ``POST /v11/projects``."""

    id: str
    name: str
    accountId: str | None = None  # noqa: N815
    # set for a project made by the "Deploy with Vercel" button (functions/vercel): its
    # deployments, ours included, are built from that folder of the uploaded files
    rootDirectory: str | None = None  # noqa: N815


# --- environment variables ----------------------------------------------------------------


class EnvVarInput(_Request):
    """One item of ``POST /v10/projects/{idOrName}/env`` (sent as a list, ``upsert=true``)."""

    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
    value: str = Field(max_length=65536)
    type: EnvType
    target: list[EnvTarget] = Field(min_length=1)
    comment: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _sensitive_targets(self) -> EnvVarInput:
        # Vercel: sensitive variables exist only in production and preview
        if self.type == "sensitive" and "development" in self.target:
            raise ValueError("a sensitive variable cannot target development")
        return self


class EnvBody(RootModel[list[EnvVarInput]]):
    """The whole body of ``POST /v10/projects/{idOrName}/env``: a list of variables."""


class EnvVar(_Answer):
    id: str | None = None
    key: str
    type: EnvType
    value: str | None = None  # plain values; encrypted ones come encrypted; sensitive never
    target: list[EnvTarget] | EnvTarget | None = None


class EnvList(_Answer):
    """``GET /v10/projects/{idOrName}/env``."""

    envs: list[EnvVar]


class EnvError(_Answer):
    code: str
    message: str
    key: str | None = None


class EnvFailed(_Answer):
    error: EnvError


class EnvCreated(_Answer):
    """``POST /v10/projects/{idOrName}/env``: partial failures come back in ``failed``."""

    created: EnvVar | list[EnvVar] | None = None
    failed: list[EnvFailed]


# --- files and deployments ----------------------------------------------------------------


class FileUploaded(_Answer):
    """``POST /v2/files``: ``{}``, or ``{"urls": [...]}`` when the file was already there."""

    urls: list[str] | None = None


class UploadedFile(_Request):
    """A deployment file referenced by the SHA1 it was uploaded under (``UploadedFile``)."""

    file: str = Field(min_length=1)
    sha: str = Field(pattern=SHA1)
    size: int = Field(ge=0)


class ProjectSettings(_Request):
    framework: str | None = None
    buildCommand: str | None = None  # noqa: N815
    installCommand: str | None = None  # noqa: N815


class CreateDeployment(_Request):
    """``POST /v13/deployments`` with files uploaded beforehand (no git source)."""

    name: str = Field(pattern=PROJECT_NAME)
    project: str | None = None
    target: Literal["production", "preview"] | None = None
    files: list[UploadedFile] = Field(min_length=1)
    projectSettings: ProjectSettings | None = None  # noqa: N815
    meta: dict[str, str] | None = None


class Deployment(_Answer):
    """``POST /v13/deployments`` and ``GET /v13/deployments/{idOrUrl}``."""

    id: str
    url: str
    readyState: ReadyState  # noqa: N815
    alias: list[str] | None = None
    aliasAssigned: bool | int | None = None  # noqa: N815
    errorCode: str | None = None  # noqa: N815
    errorMessage: str | None = None  # noqa: N815


class MissingFiles(_Answer):
    """The 400 of ``POST /v13/deployments`` naming files it has not got (``missing_files``)."""

    code: Literal["missing_files"]
    message: str
    missing: list[str]


# --- the Blob store -------------------------------------------------------------------


class CreateBlobStore(_Request):
    """``POST /v1/storage/stores/blob`` (the CLI's ``blob store add``)."""

    name: str = Field(min_length=5, max_length=70)
    region: Region | None = None
    access: Literal["public", "private"]
    projectId: str | None = Field(default=None, max_length=50)  # noqa: N815


class BlobStore(_Answer):
    id: str
    name: str | None = None
    type: str | None = None
    access: Literal["public", "private"] | None = None


class BlobStoreAnswer(_Answer):
    store: BlobStore


class BlobStores(_Answer):
    """``GET /v1/storage/stores`` (every store kind; blob ones have ``type: blob``)."""

    stores: list[BlobStore]


class CreateConnection(_Request):
    """``POST /v1/storage/stores/{id}/connections``: the store's env vars into the project."""

    projectId: str  # noqa: N815
    envVarEnvironments: list[EnvTarget] = Field(min_length=1)  # noqa: N815
    type: Literal["integration"] = "integration"
    envVarPrefix: str | None = None  # noqa: N815


class Connection(_Answer):
    """One item of ``GET /v1/storage/stores/{id}/connections`` (the POST's answer is not
    documented; the Terraform provider ignores it, and so does this client)."""

    id: str | None = None
    projectId: str  # noqa: N815
    envVarEnvironments: list[str] | None = None  # noqa: N815


class Connections(_Answer):
    connections: list[Connection]


class StoreSecrets(_Answer):
    """``GET /v1/storage/stores/{id}/secrets``: the store's read-write token (never shown)."""

    rwToken: str = Field(repr=False)  # noqa: N815


# which model a call's JSON body and answer must match: (method, path pattern) -> model
REQUESTS: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", r"/v11/projects"): CreateProject,
    ("POST", r"/v10/projects/[^/]+/env"): EnvBody,
    ("POST", r"/v13/deployments"): CreateDeployment,
    ("POST", r"/v1/storage/stores/blob"): CreateBlobStore,
    ("POST", r"/v1/storage/stores/[^/]+/connections"): CreateConnection,
}
ANSWERS: dict[tuple[str, str], type[BaseModel]] = {
    ("GET", r"/v2/user"): UserAnswer,
    ("GET", r"/v9/projects/[^/]+"): Project,
    ("POST", r"/v11/projects"): Project,
    ("GET", r"/v10/projects/[^/]+/env"): EnvList,
    ("POST", r"/v10/projects/[^/]+/env"): EnvCreated,
    ("POST", r"/v2/files"): FileUploaded,
    ("POST", r"/v13/deployments"): Deployment,
    ("GET", r"/v13/deployments/[^/]+"): Deployment,
    ("GET", r"/v1/storage/stores"): BlobStores,
    ("POST", r"/v1/storage/stores/blob"): BlobStoreAnswer,
    ("GET", r"/v1/storage/stores/[^/]+/connections"): Connections,
    ("GET", r"/v1/storage/stores/[^/]+/secrets"): StoreSecrets,
}
