"""In-place re-plans of a replica's view (watching.py), so that ownership moving never builds
a second full view beside the live one (at a million keys that doubled a replica's memory).

When replicas join, a replica only loses wallets (rendezvous hashing ranks each (replica,
wallet) pair on its own: more replicas never lift this one into a wallet's top `copies`), so
`not_owned` lists what to drop. When replicas leave it gains wallets: `new_keys` streams the
registry and materialises only the keys not yet held. Both run in a worker thread and only
read the live dict (single `dict.get` calls are safe while the loop edits it); the loop
applies their result in chunks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from relay_watcher.db import Registry, open_database
from relay_watcher.view import key_bytes

CHUNK = 10_000  # keys handled per turn of the loop when a result is applied

Owns = Callable[[str], bool]
New = tuple[bytes, bytes, list[str]]  # service key, wallet key, relays


def not_owned(keys: dict[bytes, bytes], snapshot: list[bytes], owns: Owns) -> list[bytes]:
    """The keys of `snapshot` whose wallet `owns` refuses."""
    gone: list[bytes] = []
    verdicts: dict[bytes, bool] = {}  # wallets seen in this chunk (most have one key)
    for start in range(0, len(snapshot), CHUNK):
        verdicts.clear()
        for key in snapshot[start : start + CHUNK]:
            wallet = keys.get(key)
            if wallet is None:
                continue
            ours = verdicts.get(wallet)
            if ours is None:
                ours = verdicts[wallet] = owns(wallet.hex())
            if not ours:
                gone.append(key)
    return gone


def new_keys(target: Path | str, keys: dict[bytes, bytes], owns: Owns) -> tuple[int, list[New]]:
    """(registry version read before the stream, the owned keys `keys` lacks), on a
    connection of its own."""
    base = open_database(target)
    try:
        registry = Registry(base)
        version = registry.version()
        wallets: dict[bytes, bytes] = {}
        parsed: dict[str, list[str]] = {}
        found: list[New] = []
        for service, wallet, relays in registry.service_keys():
            key = key_bytes(service)
            if key is None or key in keys or not owns(wallet):
                continue
            owner = key_bytes(wallet)
            if owner is None:
                continue
            urls = parsed.get(relays)
            if urls is None:
                urls = parsed[relays] = json.loads(relays)
            found.append((key, wallets.setdefault(owner, owner), urls))
        return version, found
    finally:
        base.close()


def distinct(items: list[bytes]) -> int:
    return len(set(items))
