"""What one replica watches, held compactly: `service key -> wallet key` as 32-byte `bytes`.

At a million keys the view is most of a replica's memory. A 64-character hex `str` costs 113
bytes (and interning it another dict entry); the same key as `bytes` costs 65 (72 allocated).
Each wallet's key object is shared by all its service keys and no global intern table is
used. Callers still speak hex: `View.map` is a read-only `Mapping[str, str]` over the bytes
(a lookup converts the tag's hex once; anything that is not 64 lower-case hex characters was
never a registered key, so it is simply absent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


def key_bytes(text: object) -> bytes | None:
    """The 32 bytes of a 64-character lower-case hex key, else None."""
    if not isinstance(text, str) or len(text) != 64:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex accepts upper case (and skips whitespace, which shortens the result)
    return raw if len(raw) == 32 and raw.hex() == text else None


class KeyMap(Mapping[str, str]):
    """Hex view of a `dict[bytes, bytes]` (no copy: conversions happen per access)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: dict[bytes, bytes]) -> None:
        self._keys = keys

    def __getitem__(self, key: str) -> str:
        raw = key_bytes(key)
        if raw is None:
            raise KeyError(key)
        return self._keys[raw].hex()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        raw = key_bytes(key)
        wallet = self._keys.get(raw) if raw is not None else None
        return wallet.hex() if wallet is not None else default

    def __contains__(self, key: object) -> bool:
        raw = key_bytes(key)
        return raw is not None and raw in self._keys

    def __iter__(self) -> Iterator[str]:
        return (k.hex() for k in list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)


def _all_bytes(keys: Iterable[str]) -> list[bytes]:
    return [raw for raw in map(key_bytes, keys) if raw is not None]


@dataclass
class View:
    version: int = -1  # the registry version this view reflects
    keys: dict[bytes, bytes] = field(default_factory=dict)  # service key -> wallet key
    relays: dict[str, set[bytes]] = field(default_factory=dict)  # relay URL -> service keys
    wallets: int = 0

    @property
    def map(self) -> KeyMap:
        """`service pubkey -> wallet pubkey` in hex, read-only."""
        return KeyMap(self.keys)

    def keys_of(self, wallet: str) -> list[str]:
        """The service keys watched here for `wallet` (hex; a pass over the view)."""
        raw = key_bytes(wallet)
        return [k.hex() for k, w in self.keys.items() if w == raw] if raw is not None else []

    def drop(self, wallet: str, keys: Iterable[str]) -> None:
        """Stop watching those of `keys` that belong to `wallet` here."""
        raw = key_bytes(wallet)
        gone = [k for k in _all_bytes(keys) if self.keys.get(k) == raw]
        for key in gone:
            del self.keys[key]
            for listed in self.relays.values():
                listed.discard(key)

    def put(self, wallet: str, keys: Iterable[str], relays: Iterable[str]) -> None:
        """Watch `keys` for `wallet` on exactly `relays`."""
        owner, urls = key_bytes(wallet), set(relays)
        if owner is None:
            return
        for key in _all_bytes(keys):
            held = self.keys.get(key, owner)
            if held != owner:
                continue  # another wallet's (a stale change): left alone
            self.keys[key] = held  # the object already there if the key was
            for url, listed in self.relays.items():
                if url not in urls:
                    listed.discard(key)
            for url in urls:
                self.relays.setdefault(url, set()).add(key)

    def edit(self, wallet: str, add: Iterable[str], remove: Iterable[str],
             relays: Iterable[str]) -> None:  # fmt: skip
        """Watch `add` for `wallet` on `relays`, stop watching `remove`."""
        self.drop(wallet, remove)
        self.put(wallet, add, relays)
