"""The replica's compact view (relay_watcher/view.py) and in-place re-plans (watching.py):
keys held as 32-byte bytes still read as hex, and a re-plan after replicas join drops exactly
what a full scan would have left out."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from relay_watcher.db import WatcherDB
from relay_watcher.metrics import Metrics
from relay_watcher.replicas import Membership
from relay_watcher.view import View, key_bytes
from relay_watcher.watching import Watching, owns_fn, scan


def _hex() -> str:
    return os.urandom(32).hex()


def test_keys_round_trip_as_hex() -> None:
    view = View()
    wallet, other = _hex(), _hex()
    keys = [_hex() for _ in range(3)]
    view.put(wallet, keys, ["wss://a", "wss://b"])
    view.put(other, [keys[0]], ["wss://c"])  # another wallet's key: left alone
    assert all(len(k) == 32 and isinstance(k, bytes) for k in view.keys)
    assert len({id(w) for w in view.keys.values()}) == 1  # one wallet object shared
    m = view.map
    assert dict(m) == {k: wallet for k in keys} and len(m) == 3
    assert m.get(keys[1]) == wallet and m[keys[2]] == wallet and keys[0] in m
    assert sorted(view.keys_of(wallet)) == sorted(keys) and view.keys_of(other) == []
    assert view.relays == {"wss://a": set(view.keys), "wss://b": set(view.keys)}
    # what no registered key can be: absent, never an error
    for bad in (keys[0].upper(), keys[0][:62] + " 0", keys[0][:-1], keys[0] + "0", "", 7, None):
        assert m.get(bad) is None and bad not in m  # type: ignore[arg-type]
        assert key_bytes(bad) is None
    view.put(wallet, keys[:1], ["wss://a"])  # relays change: the key moves
    assert key_bytes(keys[0]) not in view.relays["wss://b"]
    view.edit(wallet, [], keys[1:], [])
    assert dict(view.map) == {keys[0]: wallet} and view.relays["wss://b"] == set()


def _registry(tmp_path: Path, wallets: int) -> tuple[WatcherDB, list[str]]:
    db = WatcherDB(tmp_path / "w.db")
    names = []
    for i in range(wallets):
        wallet = _hex()
        relays = ["ws://127.0.0.1:9"] if i % 3 else ["ws://127.0.0.1:9", "ws://127.0.0.1:8"]
        keys = [_hex() for _ in range(1 + i % 2)]
        db.registry.register(wallet, "http://127.0.0.1:9/", relays, keys, 0, f"sig{i}", 0)
        names.append(wallet)
    return db, names


def test_replan_after_replicas_join_is_done_in_place_and_exact(tmp_path: Path) -> None:
    db, wallets = _registry(tmp_path, 90)
    membership = Membership(replica_id="r1", copies=1)
    membership.update(["r1"])
    watching = Watching(db, tmp_path / "w.db", membership, Metrics(10))
    watching.load()
    assert len(watching.view.keys) == 135 and watching.view.wallets == 90

    pinned = wallets[0]
    watching.pin(pinned)
    membership.update(["r1", "r2", "r3"])
    asyncio.run(watching.reload())
    assert (watching.scans, watching.shrinks) == (1, 1)  # no second view was built
    pins = {pinned: watching.pinned[pinned]}
    expect = scan(db.registry, owns_fn("r1", membership.live, 1, pins, 0.0))
    view = watching.view
    assert view.keys == expect.keys and 0 < len(view.keys) < 135
    assert view.relays == expect.relays and view.wallets == expect.wallets
    assert key_bytes(pinned) in view.keys.values()

    membership.live = ("r1",)  # the others left: wallets come back, only a scan can tell
    asyncio.run(watching.reload())
    assert (watching.scans, watching.shrinks) == (2, 1)
    assert len(watching.view.keys) == 135 and watching.view.wallets == 90
    db.close()
