"""What one replica watches: `service pubkey -> wallet pubkey` of the wallets it owns (or has
pinned) and, per relay, the keys to subscribe for.

Registrations on any replica reach the others through the registry's change log (`follow`:
a few rows per change, applied on the loop). A full scan of the registry reads every key (a
million rows at scale: seconds of CPU); it is needed at start and when the log has a gap,
and it runs in a worker thread on a connection of its own (`scan_in_thread`) while the event
loop keeps answering relays and health checks. When the live replicas change (ownership
moves) and the log reaches the view, the view is re-planned in place instead (replan.py:
only the keys gained are read in, those lost dropped), so two full views never coexist.
Changes made on this replica while a scan runs (a registration, keys added over NWC) are
applied at once as small edits and replayed onto the scan's result when it lands
(`Watching._install`), so a scan that began before them cannot undo them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relay_watcher import replan
from relay_watcher.db import Registry, WatcherDB, open_database
from relay_watcher.metrics import Metrics
from relay_watcher.replicas import Membership, owners
from relay_watcher.view import View, key_bytes

log = logging.getLogger("relay_watcher")
PIN_S = 60.0  # a wallet registered (or changed over NWC) here is watched here this long
MAX_CHANGES = 1000  # further behind than this, a full scan is cheaper


@dataclass(frozen=True)
class Edit:
    wallet: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    relays: tuple[str, ...]


def scan(registry: Registry, owns: Callable[[str], bool]) -> View:
    """Every watched key of the wallets `owns` accepts, as 32-byte keys (view.py): each
    wallet key object is shared by its service keys, each relay list parsed once."""
    view = View(version=registry.version())
    wallets: dict[bytes, bytes] = {}  # one object per wallet (no hex text kept)
    parsed: dict[str, list[str]] = {}  # most wallets share one relays JSON text
    skipped = 0
    for service, wallet, relays in registry.service_keys():
        if not owns(wallet):
            continue
        key, owner = key_bytes(service), key_bytes(wallet)
        if key is None or owner is None:  # not 64 lower-case hex: no p tag can name it
            skipped += 1
            continue
        view.keys[key] = wallets.setdefault(owner, owner)
        urls = parsed.get(relays)
        if urls is None:
            urls = parsed[relays] = json.loads(relays)
        for url in urls:
            view.relays.setdefault(url, set()).add(key)
    view.wallets = len(wallets)
    if skipped:
        log.warning("registry scan: %d malformed keys skipped", skipped)
    return view


def scan_in_thread(target: Path | str, owns: Callable[[str], bool]) -> View:
    """`scan` on a connection of its own (run it with asyncio.to_thread)."""
    base = open_database(target)
    try:
        return scan(Registry(base), owns)
    finally:
        base.close()


def owns_fn(replica: str, live: tuple[str, ...], copies: int, pinned: dict[str, float],
            now: float) -> Callable[[str], bool]:  # fmt: skip
    """A frozen ownership test for a scan in another thread (no shared state)."""
    pins = {w for w, until in pinned.items() if until > now}
    everything = len(live) <= copies

    def owns(wallet: str) -> bool:
        return everything or wallet in pins or replica in owners(wallet, live, copies)

    return owns


class Watching:
    """The replica's view and how it is kept current: full scans in a worker thread (one at
    a time, asked for through `wanted`), small edits for changes made here, pins."""

    def __init__(self, db: WatcherDB, target: Path | str, membership: Membership,
                 metrics: Metrics) -> None:  # fmt: skip
        self.db, self.target, self.membership, self.metrics = db, target, membership, metrics
        self.view = View()
        self.edits: list[tuple[int, Edit]] = []  # made here; replayed onto a newer scan
        self.seq = 0
        self.pinned: dict[str, float] = {}  # wallet -> until: watched here, owner or not
        self.wanted = asyncio.Event()
        self.scans = 0  # full scans installed (operators: /health; tests)
        self.replans = 0  # re-plans done in place (replan.py)
        self.plan: tuple[tuple[str, ...], int] | None = None  # live set, copies of the view
        self.followed = 0  # changes applied from the change log

    def pin(self, wallet: str) -> None:
        """Watch `wallet` here for PIN_S (its owners learn of a change a poll later)."""
        self.pinned[wallet] = time.time() + PIN_S

    def _owns(self) -> Callable[[str], bool]:
        now = time.time()
        self.pinned = {w: t for w, t in self.pinned.items() if t > now}
        m = self.membership
        live = m.live or (m.replica_id,)
        return owns_fn(m.replica_id, live, m.copies, dict(self.pinned), now)

    def _planning(self) -> tuple[tuple[str, ...], int]:
        m = self.membership
        return m.live or (m.replica_id,), m.copies

    def load(self) -> None:
        """Scan on the caller's thread (start-up, tests)."""
        plan = self._planning()
        self._install(scan(self.db.registry, self._owns()), self.seq, plan)

    async def reload(self) -> None:
        """Re-plan. While the view is current (the change log reaches it), in place: keys of
        wallets gained are added, those of wallets lost dropped (replan.py); else (a gap,
        never planned, other copies) a full scan in a worker thread on a connection of its
        own. The loop goes on meanwhile."""
        plan, old = self._planning(), self.plan
        if old is not None and old[1] == plan[1] and self.follow() is not None:
            if not set(old[0]) <= set(plan[0]) and not await self._grow():
                self.wanted.set()  # too far behind after the stream: a full scan next
                return
            await self._shrink()
            self.plan = plan
            self.replans += 1
            return
        started = self.seq
        view = await asyncio.to_thread(scan_in_thread, self.target, self._owns())
        self._install(view, started, plan)

    async def _grow(self) -> bool:
        """Add the owned keys the view lacks (replicas left). Changes committed while the
        registry streamed are then replayed from the change log, so a stale row cannot
        bring back a key removed meanwhile. False if the log cannot (a full scan is due)."""
        view = self.view
        version, found = await asyncio.to_thread(
            replan.new_keys, self.target, view.keys, self._owns()
        )
        for start in range(0, len(found), replan.CHUNK):
            for key, owner, urls in found[start : start + replan.CHUNK]:
                if key in view.keys:
                    continue
                view.keys[key] = owner
                for url in urls:
                    view.relays.setdefault(url, set()).add(key)
            await asyncio.sleep(0)
        del found
        if view.version > version:
            view.version = version
        return self.follow() is not None

    async def _shrink(self) -> None:
        """Drop the keys of wallets no longer ours (replicas joined); pinned ones stay."""
        view, owns = self.view, self._owns()
        snapshot = list(view.keys)  # references only
        gone = await asyncio.to_thread(replan.not_owned, view.keys, snapshot, owns)
        del snapshot
        for start in range(0, len(gone), replan.CHUNK):
            now = time.time()
            for key in gone[start : start + replan.CHUNK]:
                wallet = view.keys.get(key)
                if wallet is None or self.pinned.get(wallet.hex(), 0.0) > now:
                    continue
                del view.keys[key]
                for listed in view.relays.values():
                    listed.discard(key)
            await asyncio.sleep(0)  # relays and health checks go on between chunks
        del gone
        owners_left = list(view.keys.values())  # one shared object per wallet, mostly
        view.wallets = await asyncio.to_thread(replan.distinct, owners_left)
        del owners_left
        self.metrics.keys.set(len(view.keys))
        self.metrics.wallets.set(view.wallets)

    async def reloader(self, then: asyncio.Event) -> None:
        """One scan at a time; asks made during a scan are served by one more; `then` is
        set after each (re-plan the subscriptions)."""
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            try:
                await self.reload()
                then.set()
            except Exception as exc:
                log.warning("registry reload failed (%s); retrying", exc)
                await asyncio.sleep(1)
                self.wanted.set()

    def follow(self) -> bool | None:
        """Catch up with the registry from its change log: True if something changed here,
        False if nothing did, None if only a full scan can (a gap: the log was pruned, or
        written without it; more than MAX_CHANGES behind; never scanned)."""
        registry = self.db.registry
        current, view = registry.version(), self.view
        if current == view.version:
            return False
        if view.version < 0 or current - view.version > MAX_CHANGES:
            return None
        changes = registry.changes(view.version, current)
        if len(changes) != current - view.version:
            return None
        owns = self._owns()
        dropped: dict[str, set[str]] = {}
        for _version, wallet, removed in changes:
            dropped.setdefault(wallet, set()).update(removed)
        for wallet, gone in dropped.items():
            view.drop(wallet, gone)
            found = registry.watched(wallet)
            if found is not None and owns(wallet):
                view.put(wallet, *found)
            elif found is not None:
                view.drop(wallet, found[0])  # registered, but watched by other replicas
        view.version = current
        self.followed += len(changes)
        self.metrics.keys.set(len(view.keys))
        return True

    def _install(self, view: View, started: int, plan: tuple[tuple[str, ...], int]) -> None:
        """Take a scan's result, with the edits made here since it started replayed."""
        self.edits = [(n, e) for n, e in self.edits if n > started]
        for _, e in self.edits:
            view.edit(e.wallet, e.add, e.remove, e.relays)
        self.view = view
        self.plan = plan
        self.scans += 1
        self.metrics.keys.set(len(view.keys))
        self.metrics.wallets.set(view.wallets)

    def edit(self, wallet: str, add: list[str], remove: list[str], relays: list[str]) -> None:
        """Watch a change made on this replica at once (and keep it for the next scan)."""
        self.seq += 1
        change = Edit(wallet, tuple(add), tuple(remove), tuple(relays))
        self.edits.append((self.seq, change))
        self.view.edit(wallet, change.add, change.remove, change.relays)
        self.metrics.keys.set(len(self.view.keys))
