"""`signer_core.stores.deno_kv` against a real Deno KV (the deno binary's SQLite backend),
inside Pyodide: `main.ts kvtest` opens `Deno.openKv(<temp file>)`, awaits `run(kv)` (an
async entry, so the store's synchronous calls can block with run_sync), then calls `racer`
several times at once to race real writers from one version. Each case records what
happened; tests/test_deno_kv_store.py asserts the outcomes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from typing import Any


def _store(kv: Any, name: str) -> Any:
    mod = importlib.import_module("signer_core.stores.deno_kv")
    run_sync = importlib.import_module("pyodide.ffi").run_sync
    return mod.DenoKvStore(kv, run_sync, ("test", name))


def _outcome(call: Any) -> dict[str, Any]:
    """A store call's value (None as "none") or the class of the error it raised."""
    try:
        value = call()
        return {"ok": "none" if value is None else value}
    except Exception as exc:
        return {"error": type(exc).__name__}


def _keys(kv: Any, name: str) -> list[str]:
    """Every key under the store's prefix, as text: what a write left behind."""
    ffi = importlib.import_module("pyodide.ffi")
    lister = importlib.import_module("js").Function.new(
        "kv", "p", "return Array.fromAsync(kv.list({prefix: p}), (e) => JSON.stringify(e.key));"
    )
    return sorted(str(k) for k in ffi.run_sync(lister(kv, ffi.to_js(["test", name]))))


async def run(kv: Any) -> dict[str, Any]:
    mod = importlib.import_module("signer_core.stores.deno_kv")
    ffi = importlib.import_module("pyodide.ffi")
    out: dict[str, Any] = {
        "can_run_sync": bool(ffi.can_run_sync()),
        "chunk_bytes": mod.CHUNK_BYTES,
        "max_blob_bytes": mod.MAX_BLOB_BYTES,
    }
    store = _store(kv, "basic")
    out["read_empty"] = _outcome(store.read)
    first = b"sealed v1 " + os.urandom(16)
    out["create"] = _outcome(lambda: store.write(first, None))
    v1 = out["create"].get("ok")
    out["create_again"] = _outcome(lambda: store.write(b"other", None))
    got = store.read()
    out["read"] = {"equal": got is not None and got[0] == first, "version": got and got[1]}
    second = b"sealed v2 " + os.urandom(16)
    out["write_matching"] = _outcome(lambda: store.write(second, v1))
    v2 = out["write_matching"].get("ok")
    out["write_stale"] = _outcome(lambda: store.write(b"stale", v1))
    after = store.read()
    out["after_stale"] = {
        "equal": after is not None and after[0] == second,
        "version_is_v2": after is not None and after[1] == v2,
    }
    out["write_bad_version"] = _outcome(lambda: store.write(b"x", "*"))
    gone = _store(kv, "never")
    out["replace_missing"] = _outcome(lambda: gone.write(b"x", v2))
    # big blobs across chunks, then a shrinking one: no chunk of an older write is left
    big = _store(kv, "big")
    sizes = [mod.MAX_BLOB_BYTES, 3 * mod.CHUNK_BYTES + 17, mod.CHUNK_BYTES, 10, 0]
    version, rounds = None, []
    for size in sizes:
        blob = os.urandom(size)
        written = _outcome(lambda b=blob, v=version: big.write(b, v))
        version = written.get("ok")
        back = big.read()
        keys = _keys(kv, "big")
        rounds.append({
            "bytes": size, "written": "error" not in written,
            "equal": back is not None and back[0] == blob and back[1] == version,
            "chunk_keys": sum(1 for k in keys if '"chunk"' in k), "keys": len(keys),
        })  # fmt: skip
    out["sizes"] = rounds
    too_big = os.urandom(mod.MAX_BLOB_BYTES + 1)
    out["too_big"] = _outcome(lambda: big.write(too_big, version))
    out["after_too_big_version_kept"] = big.read()[1] == version
    # the guard: monotonic, max of concurrent advances
    guard = mod.DenoKvGuard(kv, ffi.run_sync, ("test", "guard"))
    marks = [guard.high_water()]
    for g in (5, 3, 5, 9, 0, 7):
        guard.advance(g)
        marks.append(guard.high_water())
    out["guard_marks"] = marks
    out["guard_negative"] = _outcome(lambda: guard.advance(-1))
    out["guard_huge"] = _outcome(lambda: str(guard.advance((1 << 64) - 1) or guard.high_water()))
    # a chunk changed behind the store's back (same length): the header's sha256 refuses it;
    # a chunk gone: the read starts over, then gives up
    torn = _store(kv, "torn")
    torn.write(os.urandom(2 * mod.CHUNK_BYTES), None)
    (chunk0,) = [k for k in _keys(kv, "torn") if k.endswith(",0]")]
    key = ffi.to_js(json.loads(chunk0))
    ffi.run_sync(kv.set(key, ffi.to_js(os.urandom(mod.CHUNK_BYTES))))
    out["tampered_chunk"] = _outcome(torn.read)
    ffi.run_sync(kv.delete(key))
    out["missing_chunk"] = _outcome(torn.read)
    out["sha256_of_v2"] = hashlib.sha256(second).hexdigest()
    return out


async def racer_version(kv: Any) -> str:
    store = _store(kv, "race")
    return str(store.write(b"race start", None))


async def racer(kv: Any, version: str, tag: str) -> Any:
    store = _store(kv, "race")
    blob = f"racer {tag} ".encode() + os.urandom(70_000)  # two chunks each
    result = _outcome(lambda: store.write(blob, version))
    return result if "error" in result else {"ok": tag}


async def race_result(kv: Any) -> dict[str, Any]:
    found = _store(kv, "race").read()
    text = found[0][:12].decode(errors="replace") if found else None
    return {"winner_text": text, "keys": _keys(kv, "race")}
