"""The wallet's first sealed state into the project's Blob store, create-only.

The Blob API is plain HTTPS with the store's read-write token, so the deploy command writes
the first blob itself, through the runtime's own store class
(``signer_core.stores.vercel_blob``: ``write(blob, None)`` is ``put(..., {allowOverwrite:
false})``) and raises the rollback guard to the blob's generation with ``VercelBlobGuard``.
Pathnames as the runtime reads them (docs/vercel.md, "Layout of a deployed project").

A blob already there is never replaced: a re-run leaves live state as it is (and only
raises the guard to it, which never lowers). A blob of another wallet at this wallet's
pathname is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PREFIX = "nwc-signer"


def state_path(wallet_id: str) -> str:
    return f"{PREFIX}/{wallet_id}/wallet.sealed"


def guard_path(wallet_id: str) -> str:
    return f"{PREFIX}/{wallet_id}/generation"


@dataclass(frozen=True)
class Seeded:
    written: bool  # False: a blob was already there and was left as it is
    generation: int


class SeedError(Exception):
    """The Blob store refused the first state, or holds another wallet's: one line."""


def seed(
    token: str,
    data_dir: Path,
    wallet_id: str,
    *,
    api_url: str | None = None,
    store_url: str | None = None,
) -> Seeded:
    """Write the data folder's sealed blob create-only and raise the guard to it."""
    from functions.local.datadir import DataDir
    from signer_core.stores.base import StoreUnavailable, VersionConflict
    from signer_core.stores.vercel_blob import VercelBlobGuard, VercelBlobStore
    from signer_core.vault import sealed

    found = DataDir(data_dir).store().read()
    if found is None:
        raise SeedError(f"{data_dir} holds no sealed state")
    local = found[0]
    store = VercelBlobStore(token, state_path(wallet_id), api_url=api_url, store_url=store_url)
    guard = VercelBlobGuard(
        VercelBlobStore(token, guard_path(wallet_id), api_url=api_url, store_url=store_url)
    )
    try:
        written = True
        try:
            store.write(local, None)
            blob = local
        except VersionConflict:
            there = store.read()
            if there is None:
                raise SeedError("the Blob store refused the first state and holds none") from None
            written, blob = False, there[0]
        try:
            header = sealed.parse(blob)
        except Exception:
            where = state_path(wallet_id)
            raise SeedError(f"the Blob store's {where} is not a sealed state") from None
        if header.wallet_id != wallet_id:
            raise SeedError(f"the Blob store's {state_path(wallet_id)} belongs to another wallet")
        guard.advance(header.generation)
    except StoreUnavailable as exc:
        raise SeedError(f"writing the first state to the Blob store: {exc}") from None
    return Seeded(written, header.generation)
