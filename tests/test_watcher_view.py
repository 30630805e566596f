"""The replica's compact view (relay_watcher/view.py) and in-place re-plans (watching.py):
keys held as 32-byte bytes still read as hex, and a re-plan after replicas join drops exactly
what a full scan would have left out."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from relay_watcher import replan
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


def test_replans_in_place_equal_a_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicas joining: keys dropped in place (a pinned wallet stays); replicas leaving:
    the missing keys streamed in; a gap in the change log: a full scan. Each time the view
    equals a fresh scan under the same ownership."""
    db, wallets = _registry(tmp_path, 90)
    membership = Membership(replica_id="r1", copies=1)
    membership.update(["r1"])
    watching = Watching(db, tmp_path / "w.db", membership, Metrics(10))
    watching.load()
    assert len(watching.view.keys) == 135 and watching.view.wallets == 90

    def same_as_scan() -> None:
        pins = {w: t for w, t in watching.pinned.items()}
        expect = scan(db.registry, owns_fn("r1", membership.live, 1, pins, 0.0))
        view = watching.view
        assert view.keys == expect.keys and view.wallets == expect.wallets
        assert {u: k for u, k in view.relays.items() if k} == expect.relays

    pinned = wallets[0]
    watching.pin(pinned)
    membership.update(["r1", "r2", "r3"])
    asyncio.run(watching.reload())
    assert (watching.scans, watching.replans) == (1, 1)  # no second view was built
    assert 0 < len(watching.view.keys) < 135 and key_bytes(pinned) in watching.view.keys.values()
    same_as_scan()

    # a change another replica made, then "r3" leaves: its wallets are streamed in
    gone_wallet = next(w for w in wallets[1:] if key_bytes(w) in watching.view.keys.values())
    removed = watching.view.keys_of(gone_wallet)
    assert db.registry.update_keys(gone_wallet, [], removed)
    membership.live = ("r1", "r2")
    asyncio.run(watching.reload())
    assert (watching.scans, watching.replans) == (1, 2)
    assert watching.view.keys_of(gone_wallet) == []
    same_as_scan()
    # "r2" leaves while another replica drops one of the keys the stream has just read
    real = replan.new_keys
    dropped: list[str] = []

    def racing(*args: Any) -> tuple[int, list[replan.New]]:
        version, found = real(*args)
        key, owner, _ = found[0]
        assert db.registry.update_keys(owner.hex(), [], [key.hex()])
        dropped.append(key.hex())
        return version, found

    monkeypatch.setattr(replan, "new_keys", racing)
    membership.live = ("r1",)
    asyncio.run(watching.reload())
    assert (watching.scans, watching.replans) == (1, 3)
    assert len(watching.view.keys) == 134 - len(removed)
    assert dropped and dropped[0] not in watching.view.map  # the stale row did not win
    same_as_scan()

    db.base.execute("UPDATE watcher_meta SET value = value + 1 WHERE name = 'registry_version'")
    asyncio.run(watching.reload())  # a gap in the change log: only a full scan can tell
    assert (watching.scans, watching.replans) == (2, 3)
    same_as_scan()
    db.close()
