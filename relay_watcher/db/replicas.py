"""Replica membership: each watcher process writes a heartbeat row; the live set (heartbeat
within the TTL) decides who subscribes for which wallets (relay_watcher/replicas.py)."""

from __future__ import annotations

from relay_watcher.db.base import Database

FORGET_AFTER_S = 3600  # rows of replicas silent this long are deleted


class ReplicaTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(self, replica: str, address: str, started_at: int, now: float) -> None:
        self.db.execute(
            "INSERT INTO replicas (id, address, started_at, heartbeat_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
            " address = excluded.address",
            (replica, address, started_at, now),
        )

    def live(self, now: float, ttl_s: float) -> list[str]:
        """Ids of the replicas whose last heartbeat is within ttl_s, sorted."""
        rows = self.db.all(
            "SELECT id FROM replicas WHERE heartbeat_at > ? ORDER BY id", (now - ttl_s,)
        )
        return [str(r[0]) for r in rows]

    def listing(self, now: float, ttl_s: float) -> list[dict[str, object]]:
        rows = self.db.all(
            "SELECT id, address, started_at, heartbeat_at FROM replicas ORDER BY started_at"
        )
        return [
            {"id": r[0], "address": r[1], "started_at": r[2],
             "last_heartbeat_s": round(now - float(r[3]), 1), "live": float(r[3]) > now - ttl_s}
            for r in rows
        ]  # fmt: skip

    def leave(self, replica: str) -> None:
        """A clean stop: the others take over at once instead of after the TTL."""
        self.db.execute("DELETE FROM replicas WHERE id = ?", (replica,))

    def forget_dead(self, now: float) -> None:
        self.db.execute("DELETE FROM replicas WHERE heartbeat_at < ?", (now - FORGET_AFTER_S,))
