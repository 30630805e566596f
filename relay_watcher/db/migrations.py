"""Versioned schema migrations, run at start by every watcher (SQLite and PostgreSQL alike).

Each migration is applied once, in order, in one transaction with its row in
`schema_migrations`; on PostgreSQL an advisory lock makes replicas that start together apply
it once. Add a migration at the end; never edit one that has shipped. Version 1 is the schema
of the single-process watcher (its `IF NOT EXISTS` lets a database made before migrations
existed take it unchanged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from relay_watcher.db.base import Database


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # portable statements separated by ';' (no ';' inside them)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "registry, de-dup, jobs, dead letters", """
CREATE TABLE IF NOT EXISTS wallets (
    wallet_pubkey TEXT PRIMARY KEY,
    function_url TEXT NOT NULL,
    relays TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_registration BIGINT NOT NULL,
    wake_at BIGINT,
    info_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS wallets_wake_at ON wallets (wake_at);
CREATE INDEX IF NOT EXISTS wallets_info_at ON wallets (info_at);
CREATE TABLE IF NOT EXISTS service_keys (
    service_pubkey TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL REFERENCES wallets (wallet_pubkey) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS service_keys_wallet ON service_keys (wallet_pubkey);
CREATE TABLE IF NOT EXISTS used_signatures (
    signature TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_events_at ON seen_events (seen_at);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    events TEXT,
    attempts INTEGER NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_next_at ON jobs (next_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    dead_at BIGINT NOT NULL
)
"""),
    Migration(2, "replicas: job leases, heartbeats, registry version", """
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX jobs_wallet ON jobs (wallet_pubkey);
CREATE INDEX jobs_lease_owner ON jobs (lease_owner);
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE watcher_meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO watcher_meta (name, value) VALUES ('registry_version', 0)
"""),
    Migration(3, "operators: suspended wallets, per-wallet delivery counts", """
CREATE TABLE suspended_wallets (
    wallet_pubkey TEXT PRIMARY KEY,
    suspended_at BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE wallet_stats (
    wallet_pubkey TEXT PRIMARY KEY,
    delivered BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    last_delivery_at BIGINT
)
"""),
    Migration(4, "registry change log: replicas follow registrations without rescans", """
CREATE TABLE registry_changes (
    version BIGINT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL,
    removed TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX registry_changes_at ON registry_changes (at)
"""),
    Migration(5, "tenants: requests refused over a wallet's rate limit", """
ALTER TABLE wallet_stats ADD COLUMN throttled BIGINT NOT NULL DEFAULT 0
"""),
    Migration(6, "lightning addresses: one name per wallet, unique (relay_watcher/lnurl.py)", """
CREATE TABLE lightning_addresses (
    name TEXT PRIMARY KEY,
    wallet_pubkey TEXT NOT NULL UNIQUE REFERENCES wallets (wallet_pubkey) ON DELETE CASCADE,
    nostr_pubkey TEXT NOT NULL,
    claimed_at BIGINT NOT NULL
);
CREATE INDEX lightning_addresses_zap_key ON lightning_addresses (nostr_pubkey)
"""),
)  # fmt: skip

LATEST = MIGRATIONS[-1].version


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def applied(db: Database) -> list[int]:
    return [int(r[0]) for r in db.all("SELECT version FROM schema_migrations ORDER BY version")]


def migrate(db: Database) -> list[int]:
    """Apply what is missing; the versions applied now (empty when up to date)."""
    done: list[int] = []
    with db.tx() as c:
        c.lock("nwc-watcher-migrations")
        c.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
    for migration in MIGRATIONS:
        with db.tx() as c:
            c.lock("nwc-watcher-migrations")
            if c.one("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)):
                continue
            for statement in _statements(migration.sql):
                c.execute(statement)
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
            done.append(migration.version)
    found = applied(db)
    if found and found[-1] > LATEST:
        raise RuntimeError(
            f"the database is at schema version {found[-1]}, newer than this watcher's "
            f"{LATEST}: upgrade the watcher (replicas of one database run one version)"
        )
    return done
