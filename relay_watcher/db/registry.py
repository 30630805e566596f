"""The registry: wallets (function URL, relays), their wallet-service keys, and the signatures
of accepted registrations (each is accepted once: replay protection).

The wallets table also carries the wake schedule's two columns (`wake_at`, `info_at`, see
wakes.py): one row per wallet keeps a registration and its schedule consistent. The schema is
in migrations.py.

Every change bumps `registry_version` (one row of `watcher_meta`) in the same transaction:
replicas poll it to learn that another replica registered something. The row lock also
serialises registrations, so versions commit in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from relay_watcher.db.base import Database

SIGNATURE_KEPT_S = 3600


def bump(c: Database, wallet: str, removed: Iterable[str], now: int) -> int:
    """Tell every replica that `wallet` changed (inside the changing transaction): a new
    registry version and its row in the change log, with the keys the change dropped. The
    meta row's lock is held to commit, so versions become visible in order, without gaps."""
    c.execute("UPDATE watcher_meta SET value = value + 1 WHERE name = 'registry_version'")
    row = c.one("SELECT value FROM watcher_meta WHERE name = 'registry_version'")
    version = int(row[0]) if row else 0
    c.execute(
        "INSERT INTO registry_changes (version, wallet_pubkey, removed, at) VALUES (?, ?, ?, ?)",
        (version, wallet, json.dumps(sorted(set(removed))), now),
    )
    return version


def keys_of(c: Database, wallet: str) -> list[str]:
    return [r[0] for r in c.all(
        "SELECT service_pubkey FROM service_keys WHERE wallet_pubkey = ?", (wallet,))]  # fmt: skip


class Conflict(Exception):
    """A service key already belongs to another wallet, or a registration is stale."""


class Suspended(Exception):
    """The operator suspended this wallet (relay_watcher/db/tenants.py)."""


@dataclass
class Wallet:
    pubkey: str
    function_url: str
    relays: list[str]


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self,
        wallet: str,
        function_url: str,
        relays: list[str],
        service_pubkeys: list[str],
        signed_at: int,
        signature: str,
        now: int,
    ) -> list[str]:
        """Insert or replace a wallet's registration; returns the service keys it dropped."""
        with self.db.tx() as c:
            self._claim_signature(c, signature, signed_at, now)
            if c.one("SELECT 1 FROM suspended_wallets WHERE wallet_pubkey = ?", (wallet,)):
                raise Suspended("this wallet is suspended by the watcher's operator")
            row = c.one("SELECT last_registration FROM wallets WHERE wallet_pubkey = ?", (wallet,))
            if row is not None and signed_at < row[0]:
                raise Conflict("a newer registration of this wallet was already accepted")
            for pub in service_pubkeys:
                owner = c.one(
                    "SELECT wallet_pubkey FROM service_keys WHERE service_pubkey = ?", (pub,)
                )
                if owner is not None and owner[0] != wallet:
                    raise Conflict(f"service key {pub[:12]}… is registered by another wallet")
            c.execute(
                "INSERT INTO wallets (wallet_pubkey, function_url, relays, registered_at,"
                " last_registration, wake_at, info_at) VALUES (?, ?, ?, ?, ?, NULL, ?)"
                " ON CONFLICT (wallet_pubkey) DO UPDATE SET"
                " function_url = excluded.function_url,"
                " relays = excluded.relays, last_registration = excluded.last_registration,"
                " info_at = excluded.info_at",
                (wallet, function_url, json.dumps(relays), now, signed_at, now),
            )
            old = {
                r[0]
                for r in c.all(
                    "SELECT service_pubkey FROM service_keys WHERE wallet_pubkey = ?", (wallet,)
                )
            }
            dropped = sorted(old - set(service_pubkeys))
            for pub in dropped:
                c.execute("DELETE FROM service_keys WHERE service_pubkey = ?", (pub,))
            c.executemany(
                "INSERT INTO service_keys (service_pubkey, wallet_pubkey) VALUES (?, ?)"
                " ON CONFLICT (service_pubkey) DO NOTHING",
                [(pub, wallet) for pub in service_pubkeys],
            )
            bump(c, wallet, dropped, now)
        return dropped

    def update_keys(self, wallet: str, add: list[str], remove: list[str]) -> bool:
        """Add and drop service keys of a registered wallet, as its function said after a
        create/revoke_connection over NWC (the caller checked each added key's proof). A key
        of another wallet is neither taken nor dropped. True if anything changed."""
        changed = 0
        with self.db.tx() as c:
            if c.one("SELECT 1 FROM wallets WHERE wallet_pubkey = ?", (wallet,)) is None:
                return False
            for pub in remove:
                changed += c.execute(
                    "DELETE FROM service_keys WHERE service_pubkey = ? AND wallet_pubkey = ?",
                    (pub, wallet),
                )
            for pub in add:
                changed += c.execute(
                    "INSERT INTO service_keys (service_pubkey, wallet_pubkey) VALUES (?, ?)"
                    " ON CONFLICT (service_pubkey) DO NOTHING",
                    (pub, wallet),
                )
            if changed:
                bump(c, wallet, remove, int(time.time()))
        return changed > 0

    def unregister(self, wallet: str, signed_at: int, signature: str, now: int) -> bool:
        with self.db.tx() as c:
            self._claim_signature(c, signature, signed_at, now)
            row = c.one("SELECT last_registration FROM wallets WHERE wallet_pubkey = ?", (wallet,))
            if row is None:
                return False
            if signed_at < row[0]:
                raise Conflict("a newer registration of this wallet was already accepted")
            gone = keys_of(c, wallet)
            c.execute("DELETE FROM service_keys WHERE wallet_pubkey = ?", (wallet,))
            c.execute("DELETE FROM wallets WHERE wallet_pubkey = ?", (wallet,))
            bump(c, wallet, gone, now)
        return True

    @staticmethod
    def _claim_signature(c: Database, sig: str, signed_at: int, now: int) -> None:
        c.execute("DELETE FROM used_signatures WHERE expires_at < ?", (now,))
        inserted = c.execute(
            "INSERT INTO used_signatures (signature, expires_at) VALUES (?, ?)"
            " ON CONFLICT (signature) DO NOTHING",
            (sig, signed_at + SIGNATURE_KEPT_S),
        )
        if inserted != 1:
            raise Conflict("this registration was already used (replay)")

    def wallet(self, pubkey: str) -> Wallet | None:
        row = self.db.one(
            "SELECT function_url, relays FROM wallets WHERE wallet_pubkey = ?", (pubkey,)
        )
        return Wallet(pubkey, row[0], json.loads(row[1])) if row else None

    def service_keys(self) -> Iterator[tuple[str, str, str]]:
        """(service pubkey, wallet pubkey, relays JSON) of every key watched: registered,
        and its wallet not suspended."""
        for row in self.db.stream(
            "SELECT k.service_pubkey, k.wallet_pubkey, w.relays FROM service_keys k"
            " JOIN wallets w ON w.wallet_pubkey = k.wallet_pubkey"
            " WHERE NOT EXISTS (SELECT 1 FROM suspended_wallets s"
            " WHERE s.wallet_pubkey = k.wallet_pubkey)"
        ):
            yield row[0], row[1], row[2]

    def changes(self, after: int, upto: int) -> list[tuple[int, str, list[str]]]:
        """(version, wallet, keys dropped) of the changes after `after` up to `upto`."""
        rows = self.db.all(
            "SELECT version, wallet_pubkey, removed FROM registry_changes"
            " WHERE version > ? AND version <= ? ORDER BY version",
            (after, upto),
        )
        return [(int(r[0]), str(r[1]), list(json.loads(r[2]))) for r in rows]

    def watched(self, wallet: str) -> tuple[list[str], list[str]] | None:
        """(service keys, relays) of a registered wallet that is not suspended, or None."""
        row = self.db.one(
            "SELECT relays FROM wallets w WHERE wallet_pubkey = ? AND NOT EXISTS"
            " (SELECT 1 FROM suspended_wallets s WHERE s.wallet_pubkey = w.wallet_pubkey)",
            (wallet,),
        )
        if row is None:
            return None
        return keys_of(self.db, wallet), list(json.loads(row[0]))

    def forget_changes(self, before: int) -> None:
        self.db.execute("DELETE FROM registry_changes WHERE at < ?", (before,))

    def version(self) -> int:
        """Bumped by every registration change (replicas poll it)."""
        row = self.db.one("SELECT value FROM watcher_meta WHERE name = 'registry_version'")
        return int(row[0]) if row else 0

    def wallet_count(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM wallets")
        return int(row[0]) if row else 0
