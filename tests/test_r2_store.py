"""`signer_core.stores.r2.R2Store`: against miniflare's real R2 inside Pyodide, and its error
mapping on CPython.

The first test runs `pyodide_host.mjs r2test` (functions/cloudflare): miniflare 4 (workerd's
R2, persisted to a temp dir, loopback only) hands its R2 binding to Pyodide, where
`r2_check.py` drives R2Store through `pyodide.ffi.run_sync`, then several writers race
from one version. It needs what scripts/bootstrap.sh installs; it skips, saying why, when
the bootstrap could not.

The CPython tests use `FakeBucket`, which copies only behaviour seen in that miniflare run
(and in the probes recorded in docs/cloudflare.md "### R2 state store"): `get` of a missing
key gives null; `put` with a failed `onlyIf` gives null (create-only on an existing key, a
stale `etagMatches`, `etagMatches` on a missing key); the etag is the body's MD5 in bare hex
and `httpEtag` the same in quotes; a quoted `etagMatches` is a TypeError; `etagMatches: "*"`
matches any existing object; Pyodide 314 hands JS null to Python as `pyodide.ffi.jsnull`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from signer_core.stores.base import StateStore, StoreUnavailable, VersionConflict
from signer_core.stores.r2 import R2Store

REPO = Path(__file__).resolve().parent.parent
HOST_DIR = REPO / "functions" / "cloudflare"
VENDORED = REPO / ".venv-pyodide" / "python_modules"
NODE = HOST_DIR / "node_modules" / ".bin" / "node"
MINIFLARE = HOST_DIR / "node_modules" / "miniflare"


# --- miniflare's R2 under Pyodide -----------------------------------------------------


def _not_installed() -> str | None:
    failed = HOST_DIR / ".bootstrap-failed"
    if failed.exists():
        return f"scripts/bootstrap.sh could not install it: {failed.read_text().strip()}"
    needed = (NODE, HOST_DIR / "node_modules" / "pyodide", MINIFLARE, VENDORED)
    missing = [p for p in needed if not p.exists()]
    if missing:
        return f"missing {', '.join(str(p) for p in missing)}; run scripts/bootstrap.sh"
    return None


@pytest.fixture(scope="module")
def r2test() -> dict[str, Any]:
    reason = _not_installed()
    if reason is not None:
        message = f"PYODIDE HOST / MINIFLARE NOT INSTALLED, R2 test skipped: {reason}"
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    proc = subprocess.run(
        [str(NODE), "--experimental-wasm-jspi", "pyodide_host.mjs", "r2test", "--racers", "4"],
        cwd=HOST_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"host failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_r2_store_on_miniflare_r2_binding(r2test: dict[str, Any]) -> None:
    assert r2test["pyodide"].startswith("314.")
    assert r2test["miniflare"] == "4.20260730.0"
    c = r2test["cases"]
    assert c["can_run_sync"] is True
    assert c["read_empty"] == {"ok": "none"}
    v1 = c["create"]["ok"]
    assert c["create_again"] == {"error": "VersionConflict"}
    assert c["read"] == {"blob_matches": True, "version": v1}
    # the version is R2's bare etag (the body's MD5); httpEtag is the same, quoted
    assert c["etag_is_md5_of_body"] is True
    assert c["raw_etag"] == v1 and c["raw_http_etag"] == f'"{v1}"'
    v2 = c["write_matching"]["ok"]
    assert isinstance(v2, str) and v2 != v1
    assert c["write_stale"] == {"error": "VersionConflict"}
    assert c["read_after_stale"] == {"ok": v2}  # the stale write changed nothing
    assert c["write_quoted"] == {"error": "ValueError"}
    assert c["write_star"] == {"error": "ValueError"}
    assert c["replace_missing"] == {"error": "VersionConflict"}
    assert c["read_missing"] == {"ok": "none"}
    assert c["large_round_trip"] == {"bytes": 1_572_864, "equal": True, "version_matches": True}
    assert c["js_error_write"] == {"error": "StoreUnavailable"}
    assert c["js_error_read"] == {"error": "StoreUnavailable"}
    assert "10020" not in c["js_error_message"] and "kkk" not in c["js_error_message"]
    assert r2test["blocked_fetches"] == []


def test_racing_writers_on_miniflare_exactly_one_wins(r2test: dict[str, Any]) -> None:
    race = r2test["race"]
    assert r2test["race_max_puts_in_flight"] == 4  # all four puts overlapped
    winners = [r for r in race if r.startswith("won:")]
    assert len(winners) == 1, race
    assert sorted(r for r in race if not r.startswith("won:")) == ["VersionConflict"] * 3
    assert r2test["race_final_etag"] == winners[0].removeprefix("won:")
    assert r2test["race_final_body"] == f"writer {race.index(winners[0])}"


# --- error mapping on CPython, with a fake of the behaviour seen above -------------------


class Promise:
    """A settled JS promise: the store must hand every binding result to await_js."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value, self.error = value, error


def await_js(promise: Any) -> Any:
    assert isinstance(promise, Promise), "binding result used without await_js"
    if promise.error is not None:
        raise promise.error
    return promise.value


class Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def to_bytes(self) -> bytes:
        return self.data


class R2Object:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.etag = hashlib.md5(data).hexdigest()
        self.httpEtag = f'"{self.etag}"'

    def arrayBuffer(self) -> Promise:  # noqa: N802 - the JS name
        return Promise(Buffer(self.data))


class FakeBucket:
    def __init__(self, null: Any = None) -> None:
        self.objects: dict[str, R2Object] = {}
        self.null = null  # what JS null becomes in Python
        self.fail: Exception | None = None

    def get(self, key: str) -> Promise:
        if self.fail is not None:
            return Promise(error=self.fail)
        return Promise(self.objects.get(key, self.null))

    def put(self, key: str, value: bytes, options: dict[str, Any]) -> Promise:
        if self.fail is not None:
            return Promise(error=self.fail)
        only_if = options["onlyIf"]
        current = self.objects.get(key)
        if "etagDoesNotMatch" in only_if:
            assert only_if == {"etagDoesNotMatch": "*"}
            if current is not None:
                return Promise(self.null)
        else:
            want = only_if["etagMatches"]
            if '"' in want:
                return Promise(error=TypeError(f"Conditional ETag ({want}) in quotes"))
            if current is None or (want != "*" and want != current.etag):
                return Promise(self.null)
        self.objects[key] = R2Object(bytes(value))
        return Promise(self.objects[key])


def _store(bucket: FakeBucket) -> R2Store:
    return R2Store(bucket, "wallet/state", await_js, to_js=lambda v: v)


def test_fake_cas_round_trip_and_conflicts() -> None:
    bucket = FakeBucket()
    store: StateStore = _store(bucket)
    assert store.read() is None
    v1 = store.write(b"one", None)
    assert v1 == hashlib.md5(b"one").hexdigest()
    with pytest.raises(VersionConflict):
        store.write(b"again", None)
    assert store.read() == (b"one", v1)
    v2 = store.write(b"two", v1)
    with pytest.raises(VersionConflict):
        store.write(b"stale", v1)
    assert store.read() == (b"two", v2)
    with pytest.raises(VersionConflict):
        R2Store(bucket, "gone", await_js, to_js=lambda v: v).write(b"x", v2)


def test_versions_that_would_weaken_the_condition_are_refused() -> None:
    bucket = FakeBucket()
    store = _store(bucket)
    v1 = store.write(b"one", None)
    for bad in ("*", f'"{v1}"', ""):
        with pytest.raises(ValueError):
            store.write(b"overwrite", bad)
    assert store.read() == (b"one", v1)
    with pytest.raises(TypeError):
        store.write("text", v1)  # type: ignore[arg-type]


def test_js_errors_are_unavailable_without_their_text() -> None:
    bucket = FakeBucket()
    store = _store(bucket)
    store.write(b"one", None)
    bucket.fail = RuntimeError("put: key wallet/state etag 0123abcd secret-ish detail")
    for call in (store.read, lambda: store.write(b"two", None)):
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert "secret-ish" not in str(info.value) and "0123abcd" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_pyodide_jsnull_means_missing_and_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pyodide 314 gives JS null as ``pyodide.ffi.jsnull``, not None (seen on miniflare)."""
    ffi = types.ModuleType("pyodide.ffi")
    jsnull = object()
    ffi.jsnull = jsnull  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    store = _store(FakeBucket(null=jsnull))
    assert store.read() is None
    store.write(b"one", None)
    with pytest.raises(VersionConflict):
        store.write(b"two", None)
