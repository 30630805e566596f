"""The SDK's storage folder inside the sealed state: a deterministic tar, zlib, base64.

The Spark SDK keeps its wallet cache (leaves, payments, deposit addresses) in a SQLite file
under its storage folder. A serverless function has no disk that survives it, so the folder
travels inside the sealed state: restored into a temporary directory before the SDK is
built, packed back after an operation that may have changed it. The tar is deterministic
(sorted names, zero times and owners), so an unchanged folder packs to the same digest and
a read-only request skips the write-back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import time
import zlib
from pathlib import Path
from typing import Any

FORMAT = "tar+zlib"
LEVEL = 6  # zlib level: 9 gains ~1% on SQLite pages for twice the time


class StorageCorrupt(Exception):
    """The packed folder in the state cannot be unpacked (never silently dropped)."""


class StorageBusy(Exception):
    """The folder never held still long enough for a consistent snapshot."""


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.endswith("-shm"):  # SQLite's shared-memory index: rebuilt from the WAL
            continue
        try:
            st = path.stat()
        except FileNotFoundError:  # deleted since the directory was listed
            continue
        files.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return files


def _tar_once(folder: Path, files: list[tuple[str, int, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, _, _ in files:
            with (folder / rel).open("rb") as fh:
                data = fh.read()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar(folder: Path) -> bytes:
    """A consistent tar of the folder: the same files, sizes and times before and after.

    The SDK may still be closing its SQLite database when we pack (e.g. after a failed
    connect); a checkpoint that rewrites the database and deletes its WAL between our
    reads would otherwise give a snapshot that silently lacks committed pages. We never
    open the database ourselves: a second SQLite library in the same process would break
    the SDK's POSIX locks.
    """
    for _ in range(20):
        before = _listing(folder)
        try:
            raw = _tar_once(folder, before)
        except FileNotFoundError:
            raw = None
        if raw is not None and _listing(folder) == before:
            return raw
        time.sleep(0.05)
    raise StorageBusy("the SDK's storage folder kept changing while it was being saved")


def digest(folder: Path) -> str:
    """sha256 of the folder's deterministic tar: equal digests mean nothing changed."""
    return hashlib.sha256(_tar(folder)).hexdigest()


def pack(folder: Path) -> dict[str, Any]:
    """The folder as a JSON-serialisable record for the backend's ``data`` dict."""
    raw = _tar(folder)
    packed = zlib.compress(raw, LEVEL)
    return {
        "format": FORMAT,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "b64": base64.b64encode(packed).decode("ascii"),
    }


def unpack(record: dict[str, Any] | None, folder: Path) -> None:
    """Restore a packed folder (None: a wallet whose storage was never saved)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not record:
        return
    if record.get("format") != FORMAT:
        raise StorageCorrupt(f"unknown Spark storage format {record.get('format')!r}")
    try:
        raw = zlib.decompress(base64.b64decode(record["b64"], validate=True))
    except (KeyError, ValueError, zlib.error) as exc:
        raise StorageCorrupt(f"Spark storage does not decode ({type(exc).__name__})") from None
    if hashlib.sha256(raw).hexdigest() != record.get("sha256"):
        raise StorageCorrupt("Spark storage digest mismatch")
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r") as tar:
        # the data filter refuses absolute paths, "..", links out of the folder, devices
        tar.extractall(folder, filter="data")
    for path in folder.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
