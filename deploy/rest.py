"""A JSON REST API reached with a Bearer token, for the deploy commands that have no official
SDK to use (Deno Deploy, Vercel): one request loop, one error wording, one shape check.

Every failure becomes the platform's own error type: one line with the API's message (never
the token), and answers are checked against pydantic models of the published shapes.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class RestApi:
    """Subclasses say which error they raise, what the service is called, where its base URL
    is, how its errors read, and what to add when the token is refused."""

    error: type[Exception] = Exception
    service = "the API"
    default_base_url = ""
    base_url_env = ""  # the tests point it at a loopback fake
    auth_hint = ""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
    ) -> None:
        base = base_url or os.environ.get(self.base_url_env) or self.default_base_url
        self.client = httpx.Client(
            base_url=base.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def message(self, res: httpx.Response) -> str:
        """The API's own error text (overridden per API); the status without one."""
        return f"HTTP {res.status_code}"

    def refused(self, what: str, res: httpx.Response) -> Exception:
        """The error for an answer outside ``ok`` (a subclass may pick a narrower one)."""
        hint = self.auth_hint if res.status_code in (401, 403) else ""
        return self.error(f"{what}: {self.message(res)}{hint}")

    def send(
        self,
        what: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        missing_ok: bool = False,
        empty: Any = None,
    ) -> Any:
        """One request; its JSON answer (``empty`` for no body), None for a 404 when
        ``missing_ok``."""
        try:
            res = self.client.request(
                method, path, content=content, params=params, headers=headers or {}
            )
        except httpx.HTTPError as exc:
            raise self.error(
                f"{what}: cannot reach {self.service} ({type(exc).__name__})"
            ) from None
        if missing_ok and res.status_code == 404:
            return None
        if res.status_code not in ok:
            raise self.refused(what, res)
        try:
            return res.json() if res.content else empty
        except ValueError:
            raise self.error(f"{what}: the API's answer is not JSON") from None

    @classmethod
    def parse(cls, what: str, model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "answer"
            raise cls.error(
                f"{what}: the API's answer does not match the published shape "
                f"({where}: {first['msg']})"
            ) from None
