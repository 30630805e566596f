"""Dev/test-only routes of the local Deno host (``main.ts --admin``, loopback only; never
in a deploy folder): the state and the guard in the instance's Deno KV, through the same
``DenoKvStore``/``DenoKvGuard`` the entry uses, so the tests' wallet folder can be kept on
the newest generation (nwc_signer/dev/mirror.py).

    GET  /__admin/state          200 blob + etag: <versionstamp>, or 404
    PUT  /__admin/state          If-Match: <versionstamp> (absent: create only); 412 on conflict
    GET  /__admin/guard          the high-water mark
    POST /__admin/guard/<n>      raise it to n
"""

from __future__ import annotations

import importlib
from typing import Any

from signer_core.jsffi import is_null, run_sync
from signer_core.protocol.text import parse_uint
from signer_core.stores.base import VersionConflict
from signer_core.stores.deno_kv import DenoKvGuard, DenoKvStore

Answer = tuple[int, dict[str, str], bytes]


async def admin(method: str, path: str, if_match: Any, body: Any, kv: Any) -> Answer:
    # main.ts imports entry first; a sibling module, not a package (as in a deploy folder)
    async with importlib.import_module("entry").SERIAL:
        return _admin(method, path, None if is_null(if_match) else str(if_match), body, kv)


def _admin(method: str, path: str, if_match: str | None, body: Any, kv: Any) -> Answer:
    store, guard = DenoKvStore(kv, run_sync), DenoKvGuard(kv, run_sync)
    if path == "/__admin/state" and method == "GET":
        found = store.read()
        if found is None:
            return 404, {}, b""
        return 200, {"etag": found[1]}, found[0]
    if path == "/__admin/state" and method == "PUT":
        try:
            version = store.write(bytes(body.to_bytes()), if_match)
        except VersionConflict:
            return 412, {}, b""
        return 200, {"etag": version}, b""
    if path == "/__admin/guard" and method == "GET":
        return 200, {}, str(guard.high_water()).encode()
    if path.startswith("/__admin/guard/") and method == "POST":
        generation = parse_uint(path.rsplit("/", 1)[1])
        if generation is None:
            return 400, {}, b""
        guard.advance(generation)
        return 204, {}, b""
    return 404, {}, b""
