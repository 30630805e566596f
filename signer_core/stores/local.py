"""Local-folder implementations of the state store and the generation guard.

Writes happen under an exclusive ``fcntl.flock`` on a lock file: the new content goes to a
temporary file in the same directory (created 0600, fsynced), replaces the target with
``os.replace`` (atomic on POSIX) and the directory is fsynced, so a reader sees the old or
the new blob, never a mix, and a crash leaves at worst a stray temporary file (removed by the
next writer, ignored by readers). Reads take no lock: a rename is atomic.

The version of a blob is the sha256 hex of its content, content-addressed like an S3 ETag.
Sealed blobs never repeat (random nonces, increasing generations), so content equality is
version equality.

Layout: the store's folder (0700, e.g. ``DIR/state``) holds ``wallet.sealed`` and ``.lock``
(both 0600). Linux/macOS only (fcntl).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from signer_core.stores.base import StoreUnavailable, VersionConflict

__all__ = ["LocalFolderStore", "LocalGenerationGuard"]

_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _version(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _ensure_dir(path: str, *, enforce_mode: bool) -> None:
    """Create ``path`` and any missing parents as 0700 (whatever the umask); with
    ``enforce_mode`` also tighten an existing ``path`` to 0700."""
    if os.path.isdir(path):
        if enforce_mode:
            os.chmod(path, _DIR_MODE)
        return
    parent = os.path.dirname(os.path.abspath(path))
    if parent != os.path.abspath(path):
        _ensure_dir(parent, enforce_mode=False)
    with suppress(FileExistsError):
        os.mkdir(path, _DIR_MODE)
    os.chmod(path, _DIR_MODE)


@contextmanager
def _exclusive(lock_path: str) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(name: str) -> str:
    return f".{name}."


def _remove_stray_temps(directory: str, name: str) -> None:
    """Called under the lock: any temp file of ours that exists now is left by a crash."""
    prefix = _temp_prefix(name)
    for entry in os.listdir(directory):
        if entry.startswith(prefix) and entry.endswith(".tmp"):
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, entry))


def _atomic_replace(directory: str, name: str, data: bytes) -> None:
    tmp = os.path.join(directory, f"{_temp_prefix(name)}{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    try:
        try:
            os.fchmod(fd, _FILE_MODE)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


class LocalFolderStore:
    """``StateStore`` on a local folder: ``<folder>/wallet.sealed`` (folder created 0700)."""

    FILE_NAME = "wallet.sealed"
    LOCK_NAME = ".lock"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, self.FILE_NAME)
        self._lock_path = os.path.join(self.folder, self.LOCK_NAME)

    def read(self) -> tuple[bytes, str] | None:
        try:
            blob = _read_or_none(self.path)
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        return None if blob is None else (blob, _version(blob))

    def write(self, blob: bytes, expected_version: str | None) -> str:
        if not isinstance(blob, bytes):
            raise TypeError("blob must be bytes")
        try:
            _ensure_dir(self.folder, enforce_mode=True)
            with _exclusive(self._lock_path):
                current = _read_or_none(self.path)
                if expected_version is None:
                    if current is not None:
                        raise VersionConflict("a state blob already exists (create-only write)")
                elif current is None:
                    raise VersionConflict("no state blob to replace (it was removed)")
                elif _version(current) != expected_version:
                    raise VersionConflict("the state blob changed since it was read")
                _remove_stray_temps(self.folder, self.FILE_NAME)
                _atomic_replace(self.folder, self.FILE_NAME, blob)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return _version(blob)


class LocalGenerationGuard:
    """``GenerationGuard`` in one small file (decimal text, 0600) beside the root secret."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.directory = os.path.dirname(os.path.abspath(self.path))
        self._name = os.path.basename(self.path)
        self._lock_path = self.path + ".lock"

    def _current(self) -> int:
        raw = _read_or_none(self.path)
        if raw is None:
            return 0
        text = raw.decode("ascii", "replace").strip()
        if not text.isascii() or not text.isdigit():
            raise StoreUnavailable(f"generation guard {self.path} is corrupt; refusing to guess")
        return int(text)

    def high_water(self) -> int:
        try:
            return self._current()
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def advance(self, generation: int) -> None:
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise ValueError("generation must be a non-negative integer")
        try:
            _ensure_dir(self.directory, enforce_mode=False)
            with _exclusive(self._lock_path):
                if generation <= self._current():
                    return
                _remove_stray_temps(self.directory, self._name)
                _atomic_replace(self.directory, self._name, f"{generation}\n".encode("ascii"))
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {self.path}: {exc.strerror or exc}") from exc
