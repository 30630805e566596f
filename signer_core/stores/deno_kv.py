"""Deno KV state store and rollback guard (Deno Deploy): compare-and-swap on a versionstamp.

A Deno KV value holds at most 64 KiB, so the sealed blob is split into chunks under keys
that name the write they belong to, plus one header key::

    [*prefix, "head"]                       "1:<write id>:<chunks>:<bytes>:<sha256 hex>"
    [*prefix, "chunk", <write id>, i]       Uint8Array, at most 65,536 bytes each

The version is the header's versionstamp. A write is ONE atomic operation: ``check`` that
the header's versionstamp is the expected one (``null`` for a create), ``set`` every new
chunk and the header, ``delete`` every chunk of the write it replaces. Chunks of a write are
never changed, only created and deleted, so a reader that finds all chunks of the write its
header names has that write whole; a chunk gone missing means a newer write committed in
between, and the read starts over. The sha256 in the header is checked on every read.

Size: one atomic operation may carry at most 819,200 bytes of keys and values (and each
value 65,536), measured with the deno 2.9.6 binary; 12 full chunks (786,432 bytes) plus the
header and the deletions fit, 13 do not. A larger blob is refused with ``StoreUnavailable``
before anything is written (a Cashu wallet's sealed state is a few KiB).

Consistency: ``get`` and ``getMany`` are strongly consistent unless asked otherwise, and an
atomic operation's checks and mutations commit together or not at all (Deno Deploy commits
to a quorum in one primary region), so read -> check(versionstamp) -> commit is a real
compare-and-swap.

``DenoKvGuard`` keeps the rollback high-water mark in the same database as a ``KvU64``,
raised only with the ``max`` mutation, so it never goes down and concurrent advances keep
the higher one. It shares the database with the state, so it guards against stale writers,
restored backups and bugs, not against someone holding the database's access token (on
Cloudflare the D1 guard is likewise in the same account).

The ``kv`` object is a ``Deno.Kv``; its promises are awaited with ``await_js``
(``pyodide.ffi.run_sync``). ``AtomicOperation`` has a ``then`` method, which makes Pyodide
turn it into a Python future; a two-line JS helper hides it. Nothing here imports ``js``
before it is called, so the module imports on CPython.
"""

from __future__ import annotations

import hashlib
import importlib
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from signer_core.jsffi import is_null
from signer_core.jsffi import to_js as pyodide_to_js
from signer_core.protocol.text import parse_uint
from signer_core.stores.base import StoreUnavailable, VersionConflict

__all__ = ["CHUNK_BYTES", "MAX_BLOB_BYTES", "MAX_CHUNKS", "DenoKvGuard", "DenoKvStore"]

CHUNK_BYTES = 65_536  # Deno KV's largest value
MAX_CHUNKS = 12  # 13 x 64 KiB exceed one atomic operation's 819,200 bytes
MAX_BLOB_BYTES = CHUNK_BYTES * MAX_CHUNKS
GET_MANY = 10  # keys per getMany
READ_TRIES = 5
FORMAT = "1"

_helpers: dict[str, Any] = {}


def _js(name: str) -> Any:
    """Small JS helpers made once: an atomic operation Pyodide will not treat as a
    promise, and a ``Deno.KvU64`` from a decimal string (its constructor wants a bigint)."""
    if not _helpers:
        function = importlib.import_module("js").Function
        hide_then = "Object.defineProperty(op, 'then', {value: undefined});"
        _helpers["atomic"] = function.new("kv", f"const op = kv.atomic(); {hide_then} return op;")
        _helpers["u64"] = function.new("n", "return new Deno.KvU64(BigInt(n));")
    return _helpers[name]


def _failure(exc: BaseException) -> str:
    """The error's type (and a JS error's name), never its message (it can quote keys)."""
    name = getattr(exc, "name", None)
    kind = type(exc).__name__
    return f"{kind}/{name}" if isinstance(name, str) and name.isidentifier() else kind


def _is_versionstamp(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 20 and all(c in "0123456789abcdef" for c in value)
    )


class _Header:
    """The header's fields, parsed strictly (a malformed header is an outage, not a blob)."""

    def __init__(self, text: str) -> None:
        parts = text.split(":")
        if len(parts) != 5 or parts[0] != FORMAT:
            raise StoreUnavailable("the Deno KV state header is malformed")
        self.write_id = parts[1]
        chunks, size = parse_uint(parts[2]), parse_uint(parts[3])
        if chunks is None or size is None or chunks > MAX_CHUNKS or len(parts[4]) != 64:
            raise StoreUnavailable("the Deno KV state header is malformed")
        self.chunks, self.size, self.digest = chunks, size, parts[4]

    @staticmethod
    def text(write_id: str, blob: bytes, chunks: int) -> str:
        digest = hashlib.sha256(blob).hexdigest()
        return f"{FORMAT}:{write_id}:{chunks}:{len(blob)}:{digest}"


class DenoKvStore:
    """``StateStore`` on a Deno KV database; the version is the header's versionstamp."""

    def __init__(
        self,
        kv: Any,
        await_js: Callable[[Any], Any],
        prefix: Sequence[str] = ("nwc", "state"),
        *,
        to_js: Callable[[Any], Any] | None = None,
    ) -> None:
        self.kv = kv
        self.prefix = list(prefix)
        self._await = await_js
        self._to_js = to_js if to_js is not None else pyodide_to_js

    # keys
    def _head_key(self) -> list[Any]:
        return [*self.prefix, "head"]

    def _chunk_key(self, write_id: str, index: int) -> list[Any]:
        return [*self.prefix, "chunk", write_id, index]

    def _head(self) -> tuple[_Header, str] | None:
        entry = self._await(self.kv.get(self._to_js(self._head_key())))
        stamp = entry.versionstamp
        if is_null(stamp):
            return None
        value = entry.value
        if not isinstance(value, str) or not _is_versionstamp(stamp):
            raise StoreUnavailable("the Deno KV state header is malformed")
        return _Header(value), str(stamp)

    def read(self) -> tuple[bytes, str] | None:
        for _ in range(READ_TRIES):
            try:
                found = self._head()
                if found is None:
                    return None
                header, stamp = found
                blob = self._chunks(header)
            except StoreUnavailable:
                raise
            except Exception as exc:
                raise StoreUnavailable(f"cannot read the Deno KV state ({_failure(exc)})") from None
            if blob is not None:
                if len(blob) != header.size or hashlib.sha256(blob).hexdigest() != header.digest:
                    raise StoreUnavailable("the Deno KV state chunks do not match their header")
                return blob, stamp
        raise StoreUnavailable("the Deno KV state kept changing while it was read")

    def _chunks(self, header: _Header) -> bytes | None:
        """The chunks of one write, or None when one is gone (a newer write replaced it)."""
        keys = [self._chunk_key(header.write_id, i) for i in range(header.chunks)]
        parts: list[bytes] = []
        for start in range(0, len(keys), GET_MANY):
            entries = self._await(self.kv.getMany(self._to_js(keys[start : start + GET_MANY])))
            for entry in entries:
                if is_null(entry.versionstamp):
                    return None
                parts.append(bytes(entry.value.to_bytes()))
        return b"".join(parts)

    def write(self, blob: bytes, expected_version: str | None) -> str:
        if not isinstance(blob, bytes):
            raise TypeError("blob must be bytes")
        if expected_version is not None and not _is_versionstamp(expected_version):
            raise ValueError("expected_version must be a versionstamp returned by this store")
        if len(blob) > MAX_BLOB_BYTES:
            raise StoreUnavailable(
                f"the state ({len(blob)} bytes) exceeds one Deno KV atomic write "
                f"({MAX_BLOB_BYTES} bytes)"
            )
        try:
            current = self._head()
            if (current is None) != (expected_version is None) or (
                current is not None and current[1] != expected_version
            ):
                raise VersionConflict("the state changed since it was read (Deno KV)")
            result = self._commit(blob, expected_version, None if current is None else current[0])
            ok = bool(result.ok)
            stamp = result.versionstamp if ok else None
        except (VersionConflict, StoreUnavailable):
            raise
        except Exception as exc:
            raise StoreUnavailable(f"cannot write the Deno KV state ({_failure(exc)})") from None
        if not ok:
            raise VersionConflict("the state changed since it was read (Deno KV check)")
        if not _is_versionstamp(stamp):
            raise StoreUnavailable("Deno KV committed the state but returned no versionstamp")
        return str(stamp)

    def _commit(self, blob: bytes, expected: str | None, old: _Header | None) -> Any:
        write_id = secrets.token_hex(8)
        pieces = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)]
        null = importlib.import_module("pyodide.ffi").jsnull
        op = _js("atomic")(self.kv)
        head = self._to_js(self._head_key())
        op = op.check(
            self._to_js({"key": head, "versionstamp": null if expected is None else expected})
        )
        for index, piece in enumerate(pieces):
            op = op.set(self._to_js(self._chunk_key(write_id, index)), self._to_js(piece))
        if old is not None:
            for index in range(old.chunks):
                op = op.delete(self._to_js(self._chunk_key(old.write_id, index)))
        op = op.set(head, _Header.text(write_id, blob, len(pieces)))
        return self._await(op.commit())


class DenoKvGuard:
    """``GenerationGuard`` as a ``KvU64`` raised with the ``max`` mutation (never lowered)."""

    def __init__(
        self,
        kv: Any,
        await_js: Callable[[Any], Any],
        key: Sequence[str] = ("nwc", "guard"),
        *,
        to_js: Callable[[Any], Any] | None = None,
    ) -> None:
        self.kv = kv
        self.key = list(key)
        self._await = await_js
        self._to_js = to_js if to_js is not None else pyodide_to_js

    def high_water(self) -> int:
        try:
            entry = self._await(self.kv.get(self._to_js(self.key)))
            if is_null(entry.versionstamp):
                return 0
            return int(entry.value.value)
        except Exception as exc:
            raise StoreUnavailable(f"rollback guard unavailable ({_failure(exc)})") from None

    def advance(self, generation: int) -> None:
        if generation < 0 or generation >= 1 << 64:
            raise ValueError("generation out of range for a KvU64")
        try:
            mutation = {"type": "max", "key": self.key, "value": _js("u64")(str(int(generation)))}
            result = self._await(_js("atomic")(self.kv).mutate(self._to_js(mutation)).commit())
            ok = bool(result.ok)
        except Exception as exc:
            raise StoreUnavailable(f"rollback guard unavailable ({_failure(exc)})") from None
        if not ok:
            raise StoreUnavailable("rollback guard: the max mutation was not committed")
