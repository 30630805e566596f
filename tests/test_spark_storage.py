"""Packing the Spark SDK's storage folder while SQLite may still be closing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer_core.wallets.spark import storage


def make_folder(root: Path) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "net" / "storage.sql").write_bytes(b"main" * 100)
    (root / "net" / "storage.sql-wal").write_bytes(b"wal" * 50)
    (root / "net" / "storage.sql-shm").write_bytes(b"\0" * 64)
    return root


def test_round_trip_skips_only_the_shared_memory_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    record = storage.pack(folder)
    out = tmp_path / "b"
    storage.unpack(record, out)
    assert sorted(p.name for p in (out / "net").iterdir()) == ["storage.sql", "storage.sql-wal"]
    assert (out / "net" / "storage.sql-wal").read_bytes() == b"wal" * 50


def test_a_checkpoint_during_packing_is_retried_not_half_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "a")
    real = storage._tar_once
    calls = []

    def checkpoint_midway(f: Path, files: list[tuple[str, int, int]]) -> bytes:
        calls.append(1)
        if len(calls) == 1:  # SQLite folds the WAL into the database and deletes it
            (f / "net" / "storage.sql").write_bytes(b"main+wal" * 100)
            (f / "net" / "storage.sql-wal").unlink()
        return real(f, files)

    monkeypatch.setattr(storage, "_tar_once", checkpoint_midway)
    record = storage.pack(folder)
    out = tmp_path / "b"
    storage.unpack(record, out)
    assert len(calls) == 2
    assert (out / "net" / "storage.sql").read_bytes() == b"main+wal" * 100
    assert not (out / "net" / "storage.sql-wal").exists()


def test_a_folder_that_never_holds_still_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "a")
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    real = storage._tar_once

    def always_changing(f: Path, files: list[tuple[str, int, int]]) -> bytes:
        out = real(f, files)
        path = f / "net" / "storage.sql"
        path.write_bytes(path.read_bytes() + b"x")
        return out

    monkeypatch.setattr(storage, "_tar_once", always_changing)
    with pytest.raises(storage.StorageBusy):
        storage.pack(folder)
