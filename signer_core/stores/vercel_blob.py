"""Vercel Blob state store (private store) and rollback guard: compare-and-swap on the ETag.

The requests are the ones the ``@vercel/blob`` SDK (2.8.0) sends, header for header
(tests/test_vercel_blob_sdk.py runs the real SDK against tests/vercel_blob_api.py and
compares the traffic):

    read()              GET  https://<store id>.private.blob.vercel-storage.com/<pathname>?cache=0
                        (``get(pathname, {access: 'private', useCache: false})``: the origin,
                        never the CDN, whose copy of an overwritten blob may be 60 s old)
                        -> (body, ETag header); 404 -> None
    write(blob, None)   PUT  <api>/?pathname=<pathname>   x-allow-overwrite: 0
                        (``put(..., {allowOverwrite: false})``: create only; the API turns it
                        into S3's ``If-None-Match: *``)
    write(blob, etag)   PUT  <api>/?pathname=<pathname>   x-if-match: <etag>, x-allow-overwrite: 1
                        (``put(..., {ifMatch: etag})``: replace only if unchanged)
    412 precondition_failed                          -> VersionConflict
    400 "This blob already exists" on a create      -> VersionConflict
    404 not_found on a replace (the blob is gone)    -> VersionConflict
    429, 5xx, network errors                         -> retried (the SDK retries too: a
                                                        conditional put re-checks its
                                                        condition), then StoreUnavailable
    403 and every other answer                       -> StoreUnavailable (pipeline: 503)

ETags are RFC 7232 quoted strong tags (``"abc123"``); the version is the tag exactly as the
API gave it. A read answered with a weak tag (``W/"..."``, what a compressing proxy makes)
cannot be used as ``x-if-match``: the store asks the API for the blob's metadata (the SDK's
``head()``) and uses its strong tag only if it names the same entity, else re-reads.

``VercelBlobGuard`` keeps the rollback high-water mark in a second blob of the same store,
raised with its own compare-and-swap (never lowered). Same store, same token: it catches stale
writers, bugs and a restored old wallet blob, not someone holding ``BLOB_READ_WRITE_TOKEN``
(see docs/vercel.md "Rollback guard").

httpx is imported lazily, like every cloud client in signer_core.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

from signer_core.protocol.text import BadJson, loads, parse_uint
from signer_core.stores.base import StoreUnavailable, VersionConflict

__all__ = ["API_URL", "API_VERSION", "VercelBlobGuard", "VercelBlobStore", "store_id_of"]

API_URL = "https://vercel.com/api/blob"  # the SDK's default (VERCEL_BLOB_API_URL overrides)
API_VERSION = "12"  # the SDK's BLOB_API_VERSION (2.8.0)
TRIES = 3  # attempts per request on 429/5xx/network errors
WEAK_TRIES = 3
_RETRY_STATUS = {429, 500, 502, 503, 504}


def store_id_of(token: str) -> str:
    """The store id inside a read-write token ``vercel_blob_rw_<storeId>_<secret>`` (what
    the SDK's parseStoreIdFromReadWriteToken takes: the fourth ``_`` field)."""
    parts = token.split("_")
    store_id = parts[3] if len(parts) > 3 else ""
    if not store_id or not store_id.isascii() or not store_id.isalnum():
        raise ValueError("BLOB_READ_WRITE_TOKEN is not a Vercel Blob read-write token")
    return store_id


def _strong(etag: str) -> bool:
    return len(etag) >= 2 and etag.startswith('"') and etag.endswith('"')


def _error_code(response: Any) -> tuple[str, str]:
    """The API's ``{"error": {"code", "message"}}``; empty strings when absent."""
    try:
        data = loads(response.content)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, BadJson):
        pass
    return "", ""


class VercelBlobStore:
    """``StateStore`` on one blob of a private Vercel Blob store; the version is its ETag."""

    def __init__(
        self,
        token: str,
        pathname: str,
        *,
        api_url: str | None = None,
        store_url: str | None = None,
        client: Any = None,
        timeout_s: float = 5.0,
        backoff_s: float = 0.2,
    ) -> None:
        if not pathname or pathname.startswith("/") or "#" in pathname or "?" in pathname:
            raise ValueError("pathname must be a relative blob pathname")
        self.store_id = store_id_of(token)
        self._token = token
        self.pathname = pathname
        self.api_url = (api_url or API_URL).rstrip("/")
        self.store_url = (
            store_url or f"https://{self.store_id}.private.blob.vercel-storage.com"
        ).rstrip("/")
        self._given = client
        self._client: Any = None
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s

    def __repr__(self) -> str:  # never the token
        return f"VercelBlobStore(store={self.store_id!r}, pathname={self.pathname!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._given is not None:
                self._client = self._given
            else:
                import httpx

                self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        return self._client

    # --- requests ------------------------------------------------------------------------

    def _api_headers(self, attempt: int) -> dict[str, str]:
        """requestApi's headers (api.ts), in its order."""
        request_id = f"{self.store_id}:{int(time.time() * 1000)}:{secrets.token_hex(6)}"
        return {
            "x-api-blob-request-id": request_id,
            "x-vercel-blob-store-id": self.store_id,
            "x-api-blob-request-attempt": str(attempt),
            "x-api-version": API_VERSION,
            "authorization": f"Bearer {self._token}",
        }

    def _send(self, what: str, build: Any) -> Any:
        """One request with the SDK's retry rule (429/5xx/network); the last answer, or
        StoreUnavailable naming only the failure's kind (never a URL with the token's id)."""
        last = ""
        for attempt in range(TRIES):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                response = build(attempt)
            except Exception as exc:
                if not _is_transport_error(exc):
                    raise
                last = type(exc).__name__
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            return response
        raise StoreUnavailable(f"cannot {what} the Vercel Blob state ({last})")

    def _content_url(self) -> str:
        return f"{self.store_url}/{quote(self.pathname, safe='/')}?cache=0"

    def _get(self) -> Any:
        headers = {"authorization": f"Bearer {self._token}"}
        return self._send("read", lambda _: self.client.get(self._content_url(), headers=headers))

    def _head_etag(self) -> str | None:
        """The API's metadata for the blob (``head(pathname)``): its strong ETag, or None."""
        url = f"{self.api_url}?{urlencode({'url': self.pathname})}"
        response = self._send(
            "read", lambda attempt: self.client.get(url, headers=self._api_headers(attempt))
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StoreUnavailable(
                f"cannot read the Vercel Blob metadata (HTTP {response.status_code})"
            )
        try:
            etag = loads(response.content).get("etag")
        except (ValueError, BadJson, AttributeError):
            etag = None
        if not isinstance(etag, str) or not _strong(etag):
            raise StoreUnavailable("the Vercel Blob metadata has no strong etag")
        return etag

    # --- StateStore ----------------------------------------------------------------------

    def read(self) -> tuple[bytes, str] | None:
        for _ in range(WEAK_TRIES):
            response = self._get()
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise StoreUnavailable(
                    f"cannot read the Vercel Blob state (HTTP {response.status_code})"
                )
            blob = bytes(response.content)
            etag = response.headers.get("etag") or ""
            if _strong(etag):
                return blob, etag
            if not (etag.startswith("W/") and _strong(etag[2:])):
                raise StoreUnavailable("the Vercel Blob state came without an etag")
            strong = self._head_etag()
            if strong is not None and strong == etag[2:]:
                return blob, strong
            # the blob changed between the two requests (or the tag is not the API's): again
        raise StoreUnavailable("the Vercel Blob state kept changing while it was read")

    def write(self, blob: bytes, expected_version: str | None) -> str:
        if not isinstance(blob, bytes):
            raise TypeError("blob must be bytes")
        if expected_version is not None and (
            not _strong(expected_version) or expected_version == '"*"'
        ):
            raise ValueError("expected_version must be an etag returned by this store")
        url = f"{self.api_url}/?{urlencode({'pathname': self.pathname})}"
        options = {
            "x-vercel-blob-access": "private",
            "x-content-type": "application/octet-stream",
            "x-add-random-suffix": "0",
        }
        if expected_version is None:
            options["x-allow-overwrite"] = "0"
        else:
            options["x-if-match"] = expected_version
            options["x-allow-overwrite"] = "1"

        def put(attempt: int) -> Any:
            headers = {**self._api_headers(attempt), **options}
            return self.client.put(url, content=blob, headers=headers)

        response = self._send("write", put)
        if response.status_code == 200:
            try:
                etag = loads(response.content).get("etag")
            except (ValueError, BadJson, AttributeError):
                etag = None
            if not isinstance(etag, str) or not _strong(etag):
                raise StoreUnavailable("Vercel Blob stored the state but returned no etag")
            return etag
        code, message = _error_code(response)
        if response.status_code == 412 or code == "precondition_failed":
            raise VersionConflict("the state blob changed since it was read (Vercel Blob ifMatch)")
        if expected_version is None and "already exists" in message:
            raise VersionConflict("a state blob already exists (Vercel Blob create-only put)")
        if expected_version is not None and (response.status_code == 404 or code == "not_found"):
            raise VersionConflict("no state blob to replace (it was removed)")
        raise StoreUnavailable(
            f"cannot write the Vercel Blob state (HTTP {response.status_code} {code})".rstrip()
        )


def _is_transport_error(exc: Exception) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return isinstance(exc, OSError)
    return isinstance(exc, httpx.TransportError | OSError)


class VercelBlobGuard:
    """``GenerationGuard`` as a second blob holding the decimal high-water mark, raised with
    its own compare-and-swap (create-only, then ifMatch): concurrent advances keep the higher
    value, and it is never lowered."""

    def __init__(self, store: VercelBlobStore, *, tries: int = 8) -> None:
        self.store = store
        self.tries = tries

    def _current(self) -> tuple[int, str | None]:
        found = self.store.read()
        if found is None:
            return 0, None
        text, version = found
        value = parse_uint(text.decode("ascii", "replace").strip(), max_digits=19)
        if value is None:
            raise StoreUnavailable("the rollback guard blob is corrupt; refusing to guess")
        return value, version

    def high_water(self) -> int:
        return self._current()[0]

    def advance(self, generation: int) -> None:
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise ValueError("generation must be a non-negative integer")
        for _ in range(self.tries):
            current, version = self._current()
            if current >= generation:
                return
            try:
                self.store.write(f"{generation}\n".encode(), version)
                return
            except VersionConflict:
                continue  # another writer moved it: re-read, keep the higher value
        raise StoreUnavailable("the rollback guard kept changing; not advanced")
