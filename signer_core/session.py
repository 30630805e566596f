"""One open wallet state during one attempt at a request: read, open, commit (CAS).

Keeps the store version, generation and data key together so every commit is a
compare-and-swap on exactly what this attempt read. A VersionConflict from commit() means
another writer won: the pipeline re-runs the attempt on the fresh state.

Two rules live here because every path depends on them:
- the rollback high-water mark is read *before* the blob. A writer stores its blob and
  only then raises the mark, so any blob read after the mark was read is at least that
  generation; read the other way round, an ordinary write landing in between looked like
  an old blob put back (a false rollback alarm under concurrency).
- `changed()` tells whether the state differs from what was read or last committed, so a
  request that changes nothing writes nothing (one read, no write: writes are the bill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from signer_core.state import WalletState
from signer_core.stores.base import GenerationGuard, StateStore
from signer_core.vault import sealed as vault
from signer_core.vault.keys import service_secret


class NoWallet(Exception):
    """The store holds no wallet (yet)."""


@dataclass
class Secrets:
    """What the platform's secret store holds; never written to the object store."""

    root_secret: bytes = field(repr=False)


@dataclass
class StateSession:
    store: StateStore
    guard: GenerationGuard
    secrets: Secrets
    wallet_id: str
    sealed: vault.SealedBlob
    version: str
    state: WalletState | None = None
    connection_id: str | None = None
    floor: int = 0  # the high-water mark, read before the blob
    _dek: bytes = field(default=b"", repr=False)
    _generation: int = 0
    _clean: str = field(default="", repr=False)  # canonical JSON of the last read/written state
    commits: int = 0

    @classmethod
    def read(
        cls, store: StateStore, guard: GenerationGuard, secrets: Secrets, wallet_id: str
    ) -> StateSession:
        floor = guard.high_water()  # first: see the module's docstring
        found = store.read()
        if found is None:
            raise NoWallet("no wallet state in the store")
        blob, version = found
        return cls(store, guard, secrets, wallet_id, vault.parse(blob), version, floor=floor)

    def connection_for(self, service_pubkey: str) -> str | None:
        return self.sealed.connection_for(service_pubkey)

    def service_secret(self, connection_id: str) -> bytes:
        return service_secret(self.secrets.root_secret, connection_id)

    def open_as_client(self, service_pubkey: str, client_pubkey: str) -> WalletState:
        """Unwrap with the request's own client pubkey: raises vault.Unauthorized otherwise."""
        opened = vault.open_with_connection(
            self.sealed,
            root_secret=self.secrets.root_secret,
            service_pubkey_hex=service_pubkey,
            client_pubkey_hex=client_pubkey,
            expected_wallet_id=self.wallet_id,
            min_generation=self.floor,
        )
        self.connection_id = opened.connection_id
        return self._load(opened)

    def open_as_admin(self) -> WalletState:
        opened = vault.open_with_admin(
            self.sealed,
            root_secret=self.secrets.root_secret,
            expected_wallet_id=self.wallet_id,
            min_generation=self.floor,
        )
        return self._load(opened)

    def _load(self, opened: Any) -> WalletState:
        self._dek = opened.dek
        self._generation = opened.generation
        self.state = WalletState.from_dict(opened.state)
        self._clean = _canonical(self.state)
        return self.state

    def changed(self) -> bool:
        """Whether the open state differs from what was read or last committed."""
        assert self.state is not None, "open the state first"
        return _canonical(self.state) != self._clean

    def commit_if_changed(self) -> bool:
        """Commit only a real change; True if a write happened."""
        if self.state is None or not self.changed():
            return False
        self.commit()
        return True

    def commit(self, *, rotate_key: bool = False) -> None:
        """Seal the current state as the next generation and compare-and-swap it in."""
        assert self.state is not None, "open the state before committing it"
        if rotate_key:
            self._dek = vault.new_dek()
        generation = self._generation + 1
        blob = vault.seal(
            self.state.to_dict(),
            root_secret=self.secrets.root_secret,
            wallet_id=self.wallet_id,
            generation=generation,
            dek=self._dek,
            connections=self.state.client_pubkeys(),
            previous=None if rotate_key else self.sealed,
        )
        self.version = self.store.write(blob, self.version)
        self.guard.advance(generation)
        self._generation = generation
        self.sealed = vault.parse(blob)
        self._clean = _canonical(self.state)
        self.commits += 1


def _canonical(state: WalletState) -> str:
    return json.dumps(state.to_dict(), sort_keys=True, separators=(",", ":"))


def create_wallet(
    store: StateStore, guard: GenerationGuard, secrets: Secrets, state: WalletState
) -> None:
    """Seal a brand-new wallet as generation 1; refuses to overwrite an existing one."""
    blob = vault.seal(
        state.to_dict(),
        root_secret=secrets.root_secret,
        wallet_id=state.wallet_id,
        generation=1,
        dek=vault.new_dek(),
        connections=state.client_pubkeys(),
    )
    store.write(blob, None)
    guard.advance(1)
