"""Several watcher processes on one database: who is alive, and who subscribes for what.

Each replica writes a heartbeat row every `heartbeat_s` (db/replicas.py) and renews the
leases of its deliveries in flight with it. The live set is every replica whose heartbeat is
within `ttl_s`. Wallets are divided among live replicas by rendezvous hashing: each wallet is
subscribed by the `copies` replicas that score highest for it (default 2), so a replica dying
leaves every wallet still watched by another one while the survivors take its share over (one
TTL later). Several replicas seeing the same request is harmless: the de-dup table accepts it
once. Deliveries and wake-ups are not divided: any replica claims any due job (leases).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


def score(replica: str, wallet: str) -> int:
    """Rendezvous weight of one (replica, wallet) pair: stable across processes."""
    digest = hashlib.blake2b(f"{replica}\n{wallet}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owners(wallet: str, live: Sequence[str], copies: int) -> list[str]:
    """The replicas that subscribe for `wallet` (highest scores first)."""
    if len(live) <= copies:
        return list(live)
    return sorted(live, key=lambda r: score(r, wallet), reverse=True)[:copies]


@dataclass
class Membership:
    """This replica's view: its id, the live set it last read, and what it owns."""

    address: str = ""
    ttl_s: float = 15.0
    heartbeat_s: float = 3.0
    copies: int = 2
    replica_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: int = field(default_factory=lambda: int(time.time()))
    live: tuple[str, ...] = ()
    last_beat: float = 0.0  # time.time() of the last heartbeat the database took

    def owns(self, wallet: str) -> bool:
        live = self.live or (self.replica_id,)
        if len(live) <= self.copies:
            return True
        return self.replica_id in owners(wallet, live, self.copies)

    def update(self, live: Sequence[str]) -> bool:
        """Take a newly read live set; True if it differs (ownership must be re-planned)."""
        new = tuple(sorted(set(live) | {self.replica_id}))
        changed = new != self.live
        self.live = new
        return changed

    def healthy(self, now: float) -> bool:
        """Our heartbeat reached the database recently (else others may have taken over)."""
        return now - self.last_beat < self.ttl_s
