"""The Cloudflare API calls of a deploy, through the official ``cloudflare`` SDK.

Every call the SDK has a method for goes through that method; the Worker upload goes through
the SDK client's own ``put`` (its auth, retries, base URL and errors) with the multipart shape
``wrangler deploy`` sends (``upload.py``), because the SDK's ``scripts.update`` names every
module part ``files`` where wrangler names each part after its module.

Failures become ``CloudflareError`` with the API's own error messages and codes, one line;
the token is never part of a message. The SDK logs whole request bodies at debug level
(secret values, module bytes), so its logger is held at INFO whatever ``-v`` says.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
# wrangler's variable for the same thing (the tests point both at a loopback fake)
BASE_URL_ENV = "CLOUDFLARE_API_BASE_URL"


class CloudflareError(Exception):
    """A deploy step the API refused or could not be reached for: one line for the user."""


def _api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        texts = [
            f"{e.get('message', '')} (code {e.get('code')})" if isinstance(e, dict) else str(e)
            for e in errors
        ]
        return "; ".join(texts)
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


class Api:
    """One account's API: the SDK client plus the account id (given, or the token's only one)."""

    def __init__(
        self,
        token: str,
        account_id: str | None = None,
        *,
        base_url: str | None = None,
        strict: bool = False,
    ) -> None:
        import cloudflare

        logging.getLogger("cloudflare").setLevel(logging.INFO)
        self._sdk = cloudflare
        self.client = cloudflare.Cloudflare(
            api_token=token,
            base_url=base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            max_retries=2,
            _strict_response_validation=strict,
        )
        self._account_id = account_id

    def error(self, what: str, exc: Exception) -> CloudflareError:
        """The SDK's exception worded as one line (the API's messages, never the token)."""
        if isinstance(exc, self._sdk.APIStatusError):
            message = _api_message(exc)
            hint = ""
            if exc.status_code in (400, 401, 403) and "uthentica" in message:
                hint = " (check the API token and its permissions)"
            return CloudflareError(f"{what}: {message}{hint}")
        if isinstance(exc, self._sdk.APIResponseValidationError):
            return CloudflareError(f"{what}: the API's answer does not match the SDK's types")
        return CloudflareError(f"{what}: cannot reach the Cloudflare API ({type(exc).__name__})")

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with the SDK's exceptions worded as one line."""
        try:
            return fn(*args, **kwargs)
        except self._sdk.APIError as exc:
            raise self.error(what, exc) from None

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            page = self.call("listing the token's accounts", self.client.accounts.list)
            ids = [a.id for a in page.result]
            if len(ids) != 1:
                raise CloudflareError(
                    f"the token sees {len(ids)} accounts: name one with --account-id"
                )
            self._account_id = ids[0]
        return self._account_id

    # --- R2 ---------------------------------------------------------------------------

    def ensure_bucket(self, name: str) -> bool:
        """Create the R2 bucket unless it exists; True when created."""
        try:
            self.client.r2.buckets.get(name, account_id=self.account_id)
            return False
        except self._sdk.NotFoundError:
            pass
        except self._sdk.APIError as exc:
            raise self.error(f"reading R2 bucket {name}", exc) from None
        self.call(f"creating R2 bucket {name}", self.client.r2.buckets.create,
                  account_id=self.account_id, name=name)  # fmt: skip
        return True

    def get_object(self, bucket: str, key: str) -> bytes | None:
        try:
            response = self.client.r2.buckets.objects.get(
                key, account_id=self.account_id, bucket_name=bucket
            )
        except self._sdk.NotFoundError:
            return None
        except self._sdk.APIError as exc:
            raise self.error(f"reading {bucket}/{key}", exc) from None
        return bytes(response.read())

    def put_object(self, bucket: str, key: str, data: bytes) -> None:
        self.call(f"writing {bucket}/{key}", self.client.r2.buckets.objects.upload, key, data,
                  account_id=self.account_id, bucket_name=bucket)  # fmt: skip

    # --- D1 ---------------------------------------------------------------------------

    def ensure_database(self, name: str) -> tuple[str, bool]:
        """(database id, created) for the D1 database of that name."""
        page = self.call("listing D1 databases", self.client.d1.database.list,
                         account_id=self.account_id, name=name)  # fmt: skip
        for found in page.result:
            if found.name == name and found.uuid:
                return found.uuid, False
        made = self.call(f"creating D1 database {name}", self.client.d1.database.create,
                         account_id=self.account_id, name=name)  # fmt: skip
        if not made.uuid:
            raise CloudflareError(f"creating D1 database {name}: the API returned no id")
        return made.uuid, True

    def query(self, database_id: str, sql: str, params: list[str] | None = None) -> list[Any]:
        kwargs: dict[str, Any] = {"account_id": self.account_id, "sql": sql}
        if params:
            kwargs["params"] = params
        page = self.call("running a D1 query", self.client.d1.database.query, database_id,
                         **kwargs)  # fmt: skip
        return [row for result in page.result for row in (result.results or [])]

    # --- Workers ----------------------------------------------------------------------

    def put_script(self, name: str, data: dict[str, str], files: list[Any]) -> None:
        """PUT the multipart upload (``upload.multipart_fields``) as wrangler does."""
        self.call(
            f"uploading Worker {name}",
            self.client.put,
            f"/accounts/{self.account_id}/workers/scripts/{name}",
            cast_to=object,
            body=data,
            files=files,
            options={
                "params": {"excludeScript": "true", "bindings_inherit": "strict"},
                "headers": {"Content-Type": "multipart/form-data"},
            },
        )

    def settings(self, name: str) -> list[dict[str, Any]]:
        """The deployed Worker's bindings (names, types, bucket names, database ids)."""
        got = self.call(f"reading Worker {name}'s settings",
                        self.client.workers.scripts.script_and_version_settings.get, name,
                        account_id=self.account_id)  # fmt: skip
        return [b.model_dump() for b in (got.bindings or [])]

    def put_secret(self, script: str, name: str, value: str) -> None:
        self.call(f"setting secret {name}", self.client.workers.scripts.secrets.update, script,
                  account_id=self.account_id, name=name, text=value,
                  type="secret_text")  # fmt: skip

    def enable_workers_dev(self, script: str) -> str:
        """Switch the workers.dev route on; the Worker's URL."""
        sub = self.call("reading the account's workers.dev subdomain",
                        self.client.workers.subdomains.get, account_id=self.account_id)  # fmt: skip
        self.call("enabling the workers.dev route", self.client.workers.scripts.subdomain.create,
                  script, account_id=self.account_id, enabled=True)  # fmt: skip
        return f"https://{script}.{sub.subdomain}.workers.dev"
