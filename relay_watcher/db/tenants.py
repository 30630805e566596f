"""What an operator of a shared watcher needs per wallet (tenant): suspend (its keys are no
longer watched, its queued deliveries become dead letters, it cannot re-register), resume,
remove (as an unregistration, without the wallet's signature), per-wallet counts of
deliveries, and a listing. Counts live in the database, not in Prometheus labels: a label per
wallet would be a million series."""

from __future__ import annotations

import json
import time
from typing import Any

from relay_watcher.db.base import Database
from relay_watcher.db.registry import bump, keys_of

_UPSERT = (
    "INSERT INTO wallet_stats (wallet_pubkey, delivered, failed, dropped, throttled,"
    " last_delivery_at) VALUES (?, {}, ?) ON CONFLICT (wallet_pubkey) DO UPDATE SET"
    " {} = wallet_stats.{} + excluded.{},"
    " last_delivery_at = excluded.last_delivery_at"
)
_OUTCOMES = ("delivered", "failed", "dropped", "throttled")
# fixed statements, one per outcome (no caller text reaches the SQL)
_RECORD = {
    outcome: _UPSERT.format(
        ", ".join("?" if o == outcome else "0" for o in _OUTCOMES), outcome, outcome, outcome
    )  # fmt: skip
    for outcome in _OUTCOMES
}
_LIST = (
    "SELECT w.wallet_pubkey, w.function_url, w.relays, w.registered_at,"
    " (SELECT COUNT(*) FROM service_keys k WHERE k.wallet_pubkey = w.wallet_pubkey),"
    " (SELECT COUNT(*) FROM jobs j WHERE j.wallet_pubkey = w.wallet_pubkey),"
    " (SELECT COUNT(*) FROM dead_letters d WHERE d.wallet_pubkey = w.wallet_pubkey),"
    " s.delivered, s.failed, s.dropped, s.throttled, s.last_delivery_at, x.reason"
    " FROM wallets w LEFT JOIN wallet_stats s ON s.wallet_pubkey = w.wallet_pubkey"
    " LEFT JOIN suspended_wallets x ON x.wallet_pubkey = w.wallet_pubkey"
)


class Tenants:
    def __init__(self, db: Database) -> None:
        self.db = db

    def is_suspended(self, wallet: str) -> bool:
        found = self.db.one("SELECT 1 FROM suspended_wallets WHERE wallet_pubkey = ?", (wallet,))
        return found is not None

    def suspend(self, wallet: str, reason: str, now: int) -> int:
        """Stop serving a wallet; its queued deliveries become dead letters. Their number."""
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO suspended_wallets (wallet_pubkey, suspended_at, reason)"
                " VALUES (?, ?, ?) ON CONFLICT (wallet_pubkey) DO UPDATE SET"
                " reason = excluded.reason",
                (wallet, now, reason[:200]),
            )
            moved = c.execute(
                "INSERT INTO dead_letters (id, wallet_pubkey, kind, payload, attempts,"
                " last_error, dead_at) SELECT id, wallet_pubkey, kind, payload, attempts,"
                " ?, ? FROM jobs WHERE wallet_pubkey = ? ON CONFLICT (id) DO NOTHING",
                (f"suspended by the operator: {reason[:200]}", now, wallet),
            )
            c.execute("DELETE FROM jobs WHERE wallet_pubkey = ?", (wallet,))
            bump(c, wallet, keys_of(c, wallet), now)
        return moved

    def resume(self, wallet: str) -> bool:
        with self.db.tx() as c:
            found = c.execute("DELETE FROM suspended_wallets WHERE wallet_pubkey = ?", (wallet,))
            bump(c, wallet, [], int(time.time()))
        return found == 1

    def remove(self, wallet: str) -> bool:
        """Forget a wallet (registration, keys, queued deliveries, counts). It may register
        again unless it is also suspended."""
        with self.db.tx() as c:
            gone = keys_of(c, wallet)
            c.execute("DELETE FROM jobs WHERE wallet_pubkey = ?", (wallet,))
            c.execute("DELETE FROM service_keys WHERE wallet_pubkey = ?", (wallet,))
            c.execute("DELETE FROM wallet_stats WHERE wallet_pubkey = ?", (wallet,))
            found = c.execute("DELETE FROM wallets WHERE wallet_pubkey = ?", (wallet,))
            bump(c, wallet, gone, int(time.time()))
        return found == 1

    def record(self, wallet: str, outcome: str, now: int, n: int = 1) -> None:
        """Count one finished delivery: "delivered", "failed" (dead letter), "dropped"
        (refused before queueing: the wallet's queue was full) or "throttled" (refused: over
        the wallet's request rate for longer than the deferral allows, limits.py)."""
        self.db.execute(_RECORD[outcome], (wallet, n, now))

    def listing(self, limit: int = 1000, wallet: str | None = None) -> list[dict[str, Any]]:
        if wallet:
            rows = self.db.all(_LIST + " WHERE w.wallet_pubkey = ?", (wallet,))
        else:
            rows = self.db.all(_LIST + " ORDER BY w.registered_at LIMIT ?", (limit,))
        keys = ("wallet_pubkey", "function_url", "relays", "registered_at", "service_keys",
                "queued", "dead_letters", "delivered", "failed", "dropped", "throttled",
                "last_delivery_at", "suspended")  # fmt: skip
        out = []
        for r in rows:
            item = dict(zip(keys, r, strict=True))
            item["relays"] = json.loads(item["relays"])
            for k in ("delivered", "failed", "dropped", "throttled"):
                item[k] = item[k] or 0
            out.append(item)
        return out
