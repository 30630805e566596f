"""`signer_core.stores.deno_kv` against a REAL Deno KV inside Pyodide.

`main.ts kvtest` (functions/deno) opens `Deno.openKv(<temp file>)` in the npm `deno`
binary (its SQLite backend, offline) and hands the `Deno.Kv` to Pyodide, where
`kv_check.py` drives DenoKvStore and DenoKvGuard through `pyodide.ffi.run_sync`, then
several writers race from one version with all their commits in flight at once. It needs
what scripts/bootstrap.sh installs; it skips, quoting why, when the bootstrap could not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from nwc_signer.dev.deno import DENO, HOST_DIR, host_missing

RACERS = 4


@pytest.fixture(scope="module")
def kvtest() -> dict[str, Any]:
    reason = host_missing()
    if reason is not None:
        message = f"DENO HOST NOT INSTALLED, Deno KV test skipped: {reason}"
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    proc = subprocess.run(
        [str(DENO), "run", "-A", "--cached-only", "main.ts", "kvtest", "--racers", str(RACERS)],
        cwd=HOST_DIR, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"host failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_runs_in_pyodide_on_the_pinned_deno_with_jspi_by_default(kvtest: dict[str, Any]) -> None:
    assert kvtest["pyodide"] == "314.0.7"
    assert kvtest["deno"]["deno"] == "2.9.6"
    assert kvtest["cases"]["can_run_sync"] is True  # no --v8-flags given


def test_round_trip_and_compare_and_swap(kvtest: dict[str, Any]) -> None:
    c = kvtest["cases"]
    assert c["read_empty"] == {"ok": "none"}
    v1 = c["create"]["ok"]
    assert len(v1) == 20
    assert c["read"] == {"equal": True, "version": v1}
    assert c["create_again"] == {"error": "VersionConflict"}  # create-only
    v2 = c["write_matching"]["ok"]
    assert v2 != v1
    assert c["write_stale"] == {"error": "VersionConflict"}
    assert c["after_stale"] == {"equal": True, "version_is_v2": True}
    assert c["write_bad_version"] == {"error": "ValueError"}  # never an unconditional write
    assert c["replace_missing"] == {"error": "VersionConflict"}


def test_big_blobs_span_chunks_and_a_shrinking_blob_leaves_no_stale_chunk(
    kvtest: dict[str, Any],
) -> None:
    c = kvtest["cases"]
    assert c["max_blob_bytes"] == 12 * 65536
    got = [(r["bytes"], r["written"], r["equal"], r["chunk_keys"], r["keys"]) for r in c["sizes"]]
    assert got == [
        (786432, True, True, 12, 13),  # the largest state one atomic write carries
        (3 * 65536 + 17, True, True, 4, 5),
        (65536, True, True, 1, 2),
        (10, True, True, 1, 2),
        (0, True, True, 0, 1),  # only the header is left
    ]
    assert c["too_big"] == {"error": "StoreUnavailable"}
    assert c["after_too_big_version_kept"] is True


def test_torn_or_tampered_chunks_are_never_returned(kvtest: dict[str, Any]) -> None:
    c = kvtest["cases"]
    assert c["tampered_chunk"] == {"error": "StoreUnavailable"}
    assert c["missing_chunk"] == {"error": "StoreUnavailable"}


def test_racing_writers_only_one_wins(kvtest: dict[str, Any]) -> None:
    assert kvtest["race_max_commits_in_flight"] == RACERS  # they really overlapped
    wins = [r["ok"] for r in kvtest["race"] if "ok" in r]
    assert len(wins) == 1, kvtest["race"]
    assert [r for r in kvtest["race"] if "ok" not in r] == [{"error": "VersionConflict"}] * (
        RACERS - 1
    )
    final = kvtest["race_final"]
    assert final["winner_text"].startswith(f"racer {wins[0]} ")
    # the winner's two chunks and the header: no loser left a chunk behind
    assert len(final["keys"]) == 3


def test_guard_is_monotonic(kvtest: dict[str, Any]) -> None:
    c = kvtest["cases"]
    assert c["guard_marks"] == [0, 5, 5, 5, 9, 9, 9]  # advances 5, 3, 5, 9, 0, 7
    assert c["guard_negative"] == {"error": "ValueError"}
    assert c["guard_huge"] == {"ok": str((1 << 64) - 1)}
