"""LocalFolderStore (compare-and-swap on a local folder) and LocalGenerationGuard."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from signer_core.stores import StoreUnavailable, VersionConflict
from signer_core.stores.local import LocalFolderStore, LocalGenerationGuard


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_empty_store_reads_none(tmp_path: Path) -> None:
    assert LocalFolderStore(tmp_path / "data").read() is None
    assert not (tmp_path / "data").exists()  # reading creates nothing


def test_create_then_compare_and_swap(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "data")
    v1 = store.write(b"one", None)
    assert store.read() == (b"one", v1)
    v2 = store.write(b"two", v1)
    assert v2 != v1
    assert store.read() == (b"two", v2)
    # the version is content-addressed (sha256 hex), like an ETag
    assert LocalFolderStore(tmp_path / "data").read() == (b"two", v2)
    assert len(v2) == 64


def test_a_stale_version_conflicts_and_changes_nothing(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    v1 = store.write(b"one", None)
    v2 = store.write(b"two", v1)
    with pytest.raises(VersionConflict):
        store.write(b"three", v1)
    assert store.read() == (b"two", v2)
    with pytest.raises(VersionConflict):
        store.write(b"three", "0" * 64)
    assert store.read() == (b"two", v2)


def test_create_only_when_a_blob_exists_conflicts(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    v1 = store.write(b"one", None)
    with pytest.raises(VersionConflict, match="already exists"):
        store.write(b"other", None)
    assert store.read() == (b"one", v1)


def test_replace_when_the_blob_is_missing_conflicts(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    with pytest.raises(VersionConflict, match="no state blob"):
        store.write(b"one", "0" * 64)
    assert store.read() is None


def test_file_and_folder_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0o000)  # even a permissive umask must not widen them
    try:
        store = LocalFolderStore(tmp_path / "data" / "state")
        store.write(b"one", None)
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "state") == 0o700
    assert store.path == str(tmp_path / "data" / "state" / "wallet.sealed")
    assert _mode(store.path) == 0o600
    assert _mode(tmp_path / "data" / "state" / ".lock") == 0o600
    v = store.read()
    assert v is not None
    store.write(b"two", v[1])
    assert _mode(store.path) == 0o600


def test_a_crash_before_the_rename_leaves_the_old_blob(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    v1 = store.write(b"old", None)
    # a writer died after writing its temp file, before os.replace
    stray = Path(store.folder) / ".wallet.sealed.4242.deadbeef0000.tmp"
    stray.write_bytes(b"half-written new blo")
    assert store.read() == (b"old", v1)
    v2 = store.write(b"new", v1)  # the next writer works and cleans up
    assert store.read() == (b"new", v2)
    assert not stray.exists()
    assert sorted(os.listdir(store.folder)) == [".lock", "wallet.sealed"]


def test_a_failing_rename_keeps_the_old_blob_and_reports_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalFolderStore(tmp_path)
    v1 = store.write(b"old", None)

    def boom(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreUnavailable):
        store.write(b"new", v1)
    monkeypatch.undo()
    assert store.read() == (b"old", v1)
    assert sorted(os.listdir(store.folder)) == [".lock", "wallet.sealed"]  # temp removed


def test_a_failing_fsync_reports_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalFolderStore(tmp_path)
    v1 = store.write(b"old", None)

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(StoreUnavailable, match="No space left"):
        store.write(b"new", v1)
    monkeypatch.undo()
    assert store.read() == (b"old", v1)


def test_an_unreadable_blob_is_unavailable_not_missing(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    os.makedirs(store.path)  # a directory where the file should be: reading it fails
    with pytest.raises(StoreUnavailable):
        store.read()


def _increment(folder: str, times: int, start: Any) -> int:
    store = LocalFolderStore(folder)
    conflicts = 0
    start.wait()
    done = 0
    while done < times:
        current = store.read()
        if current is None:
            blob, version = b'{"n": 0}', None
        else:
            blob, version = current
        n = json.loads(blob)["n"] + 1
        try:
            store.write(json.dumps({"n": n}).encode(), version)
        except VersionConflict:
            conflicts += 1
            continue
        done += 1
    return conflicts


def _worker(folder: str, times: int, start: Any, q: Any) -> None:
    q.put(_increment(folder, times, start))


def test_two_processes_racing_increments_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    n, procs = 150, 2
    start = ctx.Barrier(procs)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(str(tmp_path), n, start, results)) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    conflicts = [results.get(timeout=5) for _ in range(procs)]
    current = LocalFolderStore(tmp_path).read()
    assert current is not None
    assert json.loads(current[0])["n"] == n * procs
    print(f"CAS conflicts retried: {conflicts}")


# --- generation guard ---------------------------------------------------------------------------


def test_generation_guard_is_monotonic_and_persistent(tmp_path: Path) -> None:
    path = tmp_path / "data" / "generation"
    guard = LocalGenerationGuard(path)
    assert guard.high_water() == 0
    guard.advance(5)
    assert guard.high_water() == 5
    guard.advance(3)
    assert guard.high_water() == 5
    guard.advance(5)
    assert guard.high_water() == 5
    guard.advance(7)
    assert LocalGenerationGuard(path).high_water() == 7
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "data") == 0o700
    with pytest.raises(ValueError):
        guard.advance(-1)
    assert guard.high_water() == 7


def test_a_corrupt_guard_is_not_read_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "generation"
    path.write_text("not a number\n")
    with pytest.raises(StoreUnavailable, match="corrupt"):
        LocalGenerationGuard(path).high_water()
    with pytest.raises(StoreUnavailable):
        LocalGenerationGuard(path).advance(9)


def _advance_many(path: str, values: list[int]) -> None:
    guard = LocalGenerationGuard(path)
    for v in values:
        guard.advance(v)


def test_concurrent_advances_keep_the_maximum(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    path = str(tmp_path / "generation")
    a = list(range(1, 400, 2))
    b = list(range(400, 0, -3))
    workers = [ctx.Process(target=_advance_many, args=(path, vals)) for vals in (a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert LocalGenerationGuard(path).high_water() == 400
