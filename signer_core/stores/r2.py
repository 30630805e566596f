"""R2 state store: compare-and-swap with R2's conditional ``put`` over a Worker's R2 binding.

Follows the S3 mapping in ``stores/base.py``, in R2's terms:

    read()                  bucket.get(key) -> (body, etag); null -> None
    write(blob, None)       bucket.put(key, blob, {onlyIf: {etagDoesNotMatch: "*"}})
    write(blob, etag)       bucket.put(key, blob, {onlyIf: {etagMatches: etag}})
    put returns null        -> VersionConflict (the precondition failed: the object exists on
                               a create, changed since it was read, or is gone on a replace)
    any other JS error      -> StoreUnavailable (the pipeline answers 503)

The version is the object's bare ``etag`` (hex, no quotes), never ``httpEtag``: workerd
rejects a quoted ``etagMatches`` with a TypeError. ``"*"`` is refused as a version, because
``etagMatches: "*"`` matches any existing object and would make the write unconditional.
These semantics were checked against miniflare's R2 (workerd) by ``pyodide_host.mjs r2test``;
see docs/cloudflare.md "### R2 state store".

The binding's methods return JS promises. They are awaited through ``await_js`` (in a Worker,
``pyodide.ffi.run_sync``), and Python values become JS ones through ``to_js`` (by default
``pyodide.ffi.to_js`` with plain objects for dicts, imported on first use), so this module
imports nothing from ``js``/``pyodide`` and stays importable on CPython, where tests inject
a fake binding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from signer_core.jsffi import is_null
from signer_core.jsffi import to_js as pyodide_to_js
from signer_core.stores.base import StoreUnavailable, VersionConflict

__all__ = ["R2Store"]


def _failure(exc: BaseException) -> str:
    """The error's type (and the JS error's name), never its message: a JS error text can
    quote keys, etags or arguments."""
    name = getattr(exc, "name", None)
    kind = type(exc).__name__
    return f"{kind}/{name}" if isinstance(name, str) and name.isidentifier() else kind


class R2Store:
    """``StateStore`` on one object of an R2 bucket binding; the version is its etag."""

    def __init__(
        self,
        bucket: Any,
        key: str,
        await_js: Callable[[Any], Any],
        *,
        to_js: Callable[[Any], Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self._await = await_js
        self._to_js = to_js if to_js is not None else pyodide_to_js

    def read(self) -> tuple[bytes, str] | None:
        try:
            obj = self._await(self.bucket.get(self.key))
            if is_null(obj):
                return None
            body = self._await(obj.arrayBuffer())
            blob = bytes(body.to_bytes())
            etag = obj.etag
        except Exception as exc:
            raise StoreUnavailable(f"cannot read the R2 state object ({_failure(exc)})") from None
        if not isinstance(etag, str) or not etag:
            raise StoreUnavailable("the R2 state object has no etag")
        return blob, etag

    def write(self, blob: bytes, expected_version: str | None) -> str:
        if not isinstance(blob, bytes):
            raise TypeError("blob must be bytes")
        if expected_version is None:
            only_if = {"etagDoesNotMatch": "*"}
        elif not expected_version or '"' in expected_version or expected_version == "*":
            # never a version this store returned; "*" would match any object
            raise ValueError("expected_version must be an etag returned by this store")
        else:
            only_if = {"etagMatches": expected_version}
        try:
            value = self._to_js(blob)
            options = self._to_js({"onlyIf": only_if})
            obj = self._await(self.bucket.put(self.key, value, options))
            conflict = is_null(obj)
            etag = None if conflict else obj.etag
        except Exception as exc:
            raise StoreUnavailable(f"cannot write the R2 state object ({_failure(exc)})") from None
        if conflict:
            raise VersionConflict("the state blob changed since it was read (R2 onlyIf)")
        if not isinstance(etag, str) or not etag:
            raise StoreUnavailable("R2 stored the state object but returned no etag")
        return etag
