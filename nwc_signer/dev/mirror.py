"""Dev-only: keep a wallet folder and a cloud runtime's state store on the newest generation.

The wallet folder (`--data-dir`) stays the place the CLI administers (`connection add` in
another terminal writes there); the runtime's own store (moto's S3, miniflare's R2) is where
the function reads and writes. Before each invocation a newer folder blob is pushed, after
it a newer remote blob is pulled back, so restarting on the same folder keeps the wallet.
"""

from __future__ import annotations

import threading
from pathlib import Path

from signer_core.stores.base import GenerationGuard, StateStore


def generation(found: tuple[bytes, str] | None) -> int:
    from signer_core.vault.sealed import parse

    return 0 if found is None else parse(found[0]).generation


class FolderMirror:
    """A wallet folder and one remote (store, guard) pair, synced by generation number."""

    def __init__(self, data_dir: Path, remote: StateStore, remote_guard: GenerationGuard) -> None:
        from functions.local.datadir import DataDir

        folder = DataDir(data_dir)
        self.local, self.local_guard = folder.store(), folder.guard()
        self.remote, self.remote_guard = remote, remote_guard
        self.lock = threading.Lock()

    def push(self) -> None:
        with self.lock:
            mine, theirs = self.local.read(), self.remote.read()
            if mine is not None and generation(mine) > generation(theirs):
                self.remote.write(mine[0], None if theirs is None else theirs[1])
                self.remote_guard.advance(generation(mine))

    def pull(self) -> None:
        with self.lock:
            mine, theirs = self.local.read(), self.remote.read()
            if theirs is not None and generation(theirs) > generation(mine):
                self.local.write(theirs[0], None if mine is None else mine[1])
                self.local_guard.advance(generation(theirs))
