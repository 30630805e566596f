"""`signer_core.stores.r2.R2Store` against miniflare's real R2 binding, inside Pyodide.

`pyodide_host.mjs r2test` starts miniflare (workerd's R2, persisted to a temp dir), hands
the binding object in and awaits `run(bucket)` (an async entry, as a Worker's handler, so
the store's synchronous calls can block with `pyodide.ffi.run_sync`). `racer` is called by
the host several times at once (`callPromising`) to race real concurrent writers. Each case
records what happened; tests/test_r2_store.py asserts the outcomes.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from typing import Any

LARGE_BYTES = 3 * 1024 * 1024 // 2  # 1.5 MB, past any single-chunk path


def _store(bucket: Any, key: str) -> Any:
    r2 = importlib.import_module("signer_core.stores.r2")
    run_sync = importlib.import_module("pyodide.ffi").run_sync
    return r2.R2Store(bucket, key, run_sync)


def _outcome(call: Any) -> dict[str, Any]:
    """What a store call did: its value (None as "none": JSON has no undefined), or the
    class of the error it raised."""
    try:
        value = call()
        return {"ok": "none" if value is None else value}
    except Exception as exc:
        return {"error": type(exc).__name__}


async def run(bucket: Any) -> dict[str, Any]:
    base = importlib.import_module("signer_core.stores.base")
    assert base.VersionConflict  # the module loads under Pyodide
    ffi = importlib.import_module("pyodide.ffi")
    out: dict[str, Any] = {"can_run_sync": bool(ffi.can_run_sync())}
    store = _store(bucket, "wallet/state")
    out["read_empty"] = _outcome(store.read)
    first = b"sealed state v1 " + os.urandom(16)
    out["create"] = _outcome(lambda: store.write(first, None))
    out["create_again"] = _outcome(lambda: store.write(b"other", None))
    got = store.read()
    out["read"] = {
        "blob_matches": got is not None and got[0] == first,
        "version": None if got is None else got[1],
    }
    v1 = out["create"].get("ok")
    out["etag_is_md5_of_body"] = v1 == hashlib.md5(first, usedforsecurity=False).hexdigest()
    raw = ffi.run_sync(bucket.get("wallet/state"))
    out["raw_etag"], out["raw_http_etag"] = str(raw.etag), str(raw.httpEtag)
    second = b"sealed state v2 " + os.urandom(16)
    out["write_matching"] = _outcome(lambda: store.write(second, v1))
    v2 = out["write_matching"].get("ok")
    out["write_stale"] = _outcome(lambda: store.write(b"stale", v1))
    out["read_after_stale"] = _outcome(lambda: store.read()[1])
    out["write_quoted"] = _outcome(lambda: store.write(b"q", f'"{v2}"'))
    out["write_star"] = _outcome(lambda: store.write(b"s", "*"))
    gone = _store(bucket, "wallet/never-written")
    out["replace_missing"] = _outcome(lambda: gone.write(b"x", v2 or "0" * 32))
    out["read_missing"] = _outcome(gone.read)
    large = os.urandom(LARGE_BYTES)
    big = _store(bucket, "wallet/large")
    out["large_create"] = _outcome(lambda: big.write(large, None))
    back = big.read()
    out["large_round_trip"] = {
        "bytes": LARGE_BYTES,
        "equal": back is not None and back[0] == large,
        "version_matches": back is not None and back[1] == out["large_create"].get("ok"),
    }
    # a call R2 rejects (a key past 1,024 bytes: "put: The specified object name is not
    # valid. (10020)"), a JS Error through run_sync: StoreUnavailable, without the text
    bad = _store(bucket, "k" * 1100)
    out["js_error_write"] = _outcome(lambda: bad.write(b"x", None))
    out["js_error_read"] = _outcome(bad.read)
    try:
        bad.write(b"x", None)
    except Exception as exc:
        out["js_error_message"] = str(exc)
    return out


def racer(bucket: Any, key: str, version: str, tag: str) -> str:
    """One writer of a race: a synchronous replace from ``version`` (the host starts several
    with ``callPromising`` before any finishes)."""
    try:
        return "won:" + str(_store(bucket, key).write(f"writer {tag}".encode(), version))
    except Exception as exc:
        return type(exc).__name__


def racer_version(bucket: Any, key: str) -> str:
    """Create the raced object and return its version (sync; called with callPromising)."""
    store = _store(bucket, key)
    version: str = store.write(b"race base " + os.urandom(8), None)
    return version
