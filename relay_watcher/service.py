"""The watcher service: registry in memory + database, relay subscriptions, delivery, wake-ups.

Everything runs on one asyncio loop. The delivery path's database work (accepting requests,
claims, the end of each delivery) runs on a thread with its own connection (db/worker.py);
the rest (heartbeat, wake-ups, the change log, registrations: admission.py) are short calls
from the loop, and full registry scans run in a thread of their own (watching.py). The
in-memory part is just `service pubkey -> wallet pubkey` of the wallets this replica watches
(the local filter for kind-wide subscriptions and the check before any signature work) and
the keys per relay; function URLs are read from the database per delivery (cached 2 s).
Relay messages: intake.py. On PostgreSQL, new jobs are announced by LISTEN/NOTIFY
(db/notify.py).

Replicas (replicas.py): several processes on one PostgreSQL database divide the wallets'
subscriptions among themselves, share the delivery queue through leases, and follow each
other's registrations through the registry's change log. On SQLite there is one replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay_watcher.admission import Admission
from relay_watcher.db import DatabaseUnavailable, WatcherDB
from relay_watcher.db.notify import JobListener
from relay_watcher.db.worker import DbThread
from relay_watcher.delivery import DeliveryConfig, Dispatcher
from relay_watcher.intake import Intake, Request
from relay_watcher.limits import TokenBuckets
from relay_watcher.metrics import Metrics
from relay_watcher.relays import RelayPool, plan_filters
from relay_watcher.replicas import Membership
from relay_watcher.watching import Watching
from signer_core.crypto.secp import xonly_pubkey

log = logging.getLogger("relay_watcher")


@dataclass
class WatcherConfig:
    db_path: Path | str  # a SQLite file, or a postgresql:// URL (several replicas)
    lookback_s: int = 300  # re-subscriptions ask for this much history (the signer's freshness)
    info_interval_s: int = 6 * 3600  # re-publish every wallet's 13194 info events this often
    seen_retention_s: int = 3600
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    # local/dev stacks only: let function URLs reach loopback, private and link-local
    # addresses (relay_watcher/urls.py); a shared watcher keeps the default
    allow_private_function_urls: bool = False
    replica_ttl_s: float = 15.0  # a replica silent this long is dead: its share is taken over
    heartbeat_s: float = 3.0
    subscription_copies: int = 2  # replicas subscribed for each wallet
    max_queued_per_wallet: int | None = 100  # per-tenant limit: more requests are refused
    address: str = ""  # how operators reach this replica (shown in the replica listing)
    replica_id: str | None = None  # stable across restarts (e.g. a pod name); else random
    # tenants (limits.py, challenge.py, tenant_metrics.py; docs/operating.md "Limits")
    wallet_rate_per_min: float = 120.0  # NWC requests a minute per wallet (0: no limit)
    wallet_burst: float = 30.0
    wallet_max_defer_s: float = 30.0  # over the rate: deferred up to this long, then dropped
    registrations_per_min: float = 6.0  # per wallet (signed registrations and unregistrations)
    registrations_per_min_per_client: float = 60.0  # per client address, before any crypto
    challenge_function_urls: bool = True  # registration proves control of the function URL
    challenge_timeout_s: float = 8.0
    tenant_metrics_top: int = 50  # wallets named in per-tenant metrics; the rest are "other"


class Watcher(Admission):
    def __init__(self, config: WatcherConfig, watcher_secret: bytes) -> None:
        self.config = config
        self.pubkey = xonly_pubkey(watcher_secret).hex()
        self.metrics = Metrics(config.tenant_metrics_top)
        self._secret = watcher_secret
        per_min = 1 / 60
        self.request_limits = TokenBuckets(config.wallet_rate_per_min * per_min,
                                           config.wallet_burst)  # fmt: skip
        self.registration_limits = TokenBuckets(config.registrations_per_min * per_min, 5)
        client_rate = config.registrations_per_min_per_client
        self.client_limits = TokenBuckets(client_rate * per_min, max(client_rate, 1.0))
        self.db = WatcherDB(config.db_path)
        # the delivery path's own connection, used from its own thread (db/worker.py)
        self.worker = DbThread(WatcherDB(config.db_path))
        self.listener: JobListener | None = None
        self._notice_pending = False
        self.membership = Membership(
            address=config.address,
            ttl_s=config.replica_ttl_s,
            heartbeat_s=config.heartbeat_s,
            copies=max(1, config.subscription_copies),
        )
        if config.replica_id:
            self.membership.replica_id = config.replica_id
        # what this replica watches (watching.py)
        self.watching = Watching(self.db, config.db_path, self.membership, self.metrics)
        self.intake = Intake(
            self.db,
            self.metrics,
            lambda: self.keys,
            self._kick,
            config.max_queued_per_wallet,
            self.request_limits if config.wallet_rate_per_min > 0 else None,
            config.wallet_max_defer_s,
            self.worker,
        )
        self.pool = RelayPool(self.intake.on_messages)
        self.dispatcher = Dispatcher(
            self.db,
            self.metrics,
            watcher_secret,
            self.pool.publish,
            config.delivery,
            owner=self.membership.replica_id,
            allow_private_urls=config.allow_private_function_urls,
            keys_changed=self._keys_changed,
            worker=self.worker,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed_version = -1  # registry version the relays' subscriptions reflect
        self._resubscribe = asyncio.Event()
        self._subscribing = asyncio.Lock()
        self.started = False
        self.after_stop: list[Callable[[], object]] = []  # e.g. write a profile (__main__)

    # -- life cycle ----------------------------------------------------------------------

    def _kick(self) -> None:
        self.dispatcher.kick.set()

    def _listen(self) -> None:
        """PostgreSQL: hear of jobs other replicas accept as they commit (db/notify.py)."""
        if self.db.base.dialect != "postgresql":
            return
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._notice_pending = False
            self.dispatcher.kick.set()

        def on_notice() -> None:  # the listener's thread: one wake-up in flight at a time
            if not self._notice_pending:
                self._notice_pending = True
                loop.call_soon_threadsafe(wake)

        self.listener = JobListener(str(self.config.db_path), on_notice)
        self.listener.start()

    @property
    def replica_id(self) -> str:
        return self.membership.replica_id

    async def start(self) -> None:
        # leases of a previous run of this process need not be waited out: on SQLite (one
        # process per file) all of them, on PostgreSQL those under a stable --replica-id
        if self.db.base.dialect == "sqlite":
            self.db.queue.release_all()
        else:
            self.db.queue.release(self.replica_id)
        # plan with the live set but announce ourselves only once loaded: a long first scan
        # (a million keys on a busy machine can outlast the TTL) would otherwise make us
        # flap dead and live in the others' eyes, each flap a re-plan of theirs
        m = self.membership
        m.update(self.db.replicas.live(time.time(), m.ttl_s))
        self._load_registry()
        if self._heartbeat(time.time()):
            self.watching.wanted.set()  # the live set moved during the load
        await self.pool.start()
        self._listen()
        await self._sync_subscriptions()
        for coro, name in (
            (self.dispatcher.run(), "dispatcher"),
            (self._scheduler(), "scheduler"),
            (self._subscriber(), "subscriber"),
            (self.watching.reloader(self._resubscribe), "reloader"),
        ):
            self._tasks.append(asyncio.create_task(coro, name=name))
        self.started = True
        log.info(
            "watcher %s… replica %s started: %d wallets, %d keys watched here",
            self.pubkey[:12],
            self.replica_id,
            self.watching.view.wallets,
            len(self.keys),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()  # and its database thread
        if self.listener is not None:
            self.listener.stop()
        await self.pool.close()
        with contextlib.suppress(Exception):  # hand over at once rather than after the TTL
            self.db.queue.release(self.replica_id)
            self.db.replicas.leave(self.replica_id)
        self.db.close()
        for fn in self.after_stop:
            fn()

    @property
    def keys(self) -> Mapping[str, str]:
        """service pubkey -> wallet pubkey (hex) of every key watched here (read-only; held
        as bytes, view.py)."""
        return self.watching.view.map

    @property
    def registry_version(self) -> int:
        return self.watching.view.version

    def _load_registry(self) -> None:
        self.watching.load()

    def _heartbeat(self, now: float) -> bool:
        """Write our heartbeat, read the live set; True if ownership changed."""
        m = self.membership
        self.db.replicas.beat(m.replica_id, m.address, m.started_at, now)
        m.last_beat = now
        self.dispatcher.renew_leases()
        return m.update(self.db.replicas.live(now, m.ttl_s))

    async def _keys_changed(self, wallet: str, add: list[str], remove: list[str]) -> None:
        """A function added or dropped connection keys (create/revoke_connection over NWC):
        subscribe for them now, before the reply that announces the key is published (here,
        owner or not: the owners learn of it from the registry version a poll later)."""
        self.watching.pin(wallet)
        found = self.db.registry.wallet(wallet)
        self.watching.edit(wallet, add, remove, found.relays if found else [])
        await self._sync_subscriptions()

    # -- subscriptions -------------------------------------------------------------------

    async def _subscriber(self) -> None:
        """Re-plan subscriptions after registry changes (debounced) and every minute (so
        relays that were down are subscribed when they come back)."""
        while True:
            # on time-out, relays whose subscription failed (no plan) are retried
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resubscribe.wait(), 60)
            await asyncio.sleep(0.05)
            self._resubscribe.clear()
            try:
                await self._sync_subscriptions()
            except Exception:
                log.exception("re-subscribing failed; will retry")
                await asyncio.sleep(5)
                self._resubscribe.set()

    async def _sync_subscriptions(self) -> None:
        async with self._subscribing:  # the subscriber task and a key change may overlap
            await self._sync_subscriptions_now()

    async def _sync_subscriptions_now(self) -> None:
        view = self.watching.view
        version = view.version
        # no copy of the keys: a relay past CHUNKED_MAX needs only their count, the others
        # are copied (as hex) by plan_filters, synchronously, before any await
        urls = [url for url, keys in view.relays.items() if keys]
        await self.pool.ensure_relays(set(urls))
        since = int(time.time()) - self.config.lookback_s
        for url in urls:
            if url not in self.pool.relays:  # nostr-sdk refused the URL: skip it, not the rest
                continue
            filters = plan_filters(view.relays.get(url, ()), since)
            current = self.pool.plans.get(url)
            if current is not None and _same_keys(current, filters):
                continue
            await self.pool.subscribe(url, filters)
        self.metrics.relays_total.set(len(self.pool.relays))
        self.subscribed_version = version

    # -- incoming relay messages ---------------------------------------------------------

    async def on_message(self, relay_url: str, text: str) -> None:
        """One raw relay message (tests; the relays hand batches to the intake)."""
        await self.intake.on_messages([(relay_url, text)])

    @property
    def pending(self) -> deque[Request]:
        """Requests held in memory while the database is unreachable."""
        return self.intake.pending

    def _flush_pending(self) -> None:
        self.intake.flush()

    # -- wake-ups ------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        """Every second: requests held through a database outage, the registry version
        (another replica registered something), due wake-ups; the heartbeat every
        `heartbeat_s`; housekeeping every minute. Each step on its own: one failing (the
        database away) does not stop the others."""
        last_cleanup = last_beat = 0.0
        while True:
            now = time.time()
            replan = False
            if now - last_beat >= self.membership.heartbeat_s:
                replan |= bool(self._step("heartbeat", self._heartbeat, now))
                last_beat = now
            self._step("held requests", self._flush_pending)
            followed = self._step("registry changes", self.watching.follow)
            if followed:
                self._resubscribe.set()
            replan |= followed is None
            if replan:
                self.watching.wanted.set()
            queued = self._step(
                "wake-ups", self.db.wakes.enqueue_due, int(now), self.config.info_interval_s
            )
            if queued:
                self.metrics.wakes.inc(queued)
                self.dispatcher.kick.set()
            if now - last_cleanup > 60:
                last_cleanup = now
                self._step("housekeeping", self._housekeeping, int(now))
                status = await self.pool.status()
                self.metrics.relays_connected.set(
                    sum(1 for s in status.values() if s == "connected")
                )
            await asyncio.sleep(1)

    def _step(self, name: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except DatabaseUnavailable as exc:
            log.warning("%s paused: %s", name, exc)
        except Exception:
            log.exception("%s failed", name)
        return None

    def _housekeeping(self, now: int) -> None:
        self.db.queue.forget_seen(now - self.config.seen_retention_s)
        self.db.registry.forget_changes(now - 3600)
        self.db.replicas.forget_dead(now)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready for traffic: started, the database answers, our heartbeat is current."""
        now = time.time()
        checks = {
            "started": self.started,
            "database": self.db.base.ping(),
            "heartbeat": self.membership.healthy(now),
        }
        return all(checks.values()), {"ready": all(checks.values()), "checks": checks,
                                      "replica": self.replica_id}  # fmt: skip

    def refresh_gauges(self) -> None:
        """Gauges read from the database at scrape time (skipped while it is away)."""
        with contextlib.suppress(DatabaseUnavailable):
            self.metrics.queue.set(self.db.queue.job_count())
            self.metrics.leased.set(self.db.queue.leased_count(time.time()))
        self.metrics.replicas.set(len(self.membership.live))
        self.metrics.held.set(len(self.pending))

    async def health(self) -> dict[str, Any]:
        """Liveness and a summary; answers while the database is away (readiness does not)."""
        status = await self.pool.status()
        self.metrics.relays_connected.set(sum(1 for s in status.values() if s == "connected"))
        body: dict[str, Any] = {
            "ok": self.started,
            "watcher_pubkey": self.pubkey,
            "replica": self.replica_id,
            "replicas_live": len(self.membership.live),
            "service_keys": len(self.keys),
            "registry_version": self.registry_version,
            "subscribed_version": self.subscribed_version,
            "registry_scans": self.watching.scans,
            "registry_changes_followed": self.watching.followed,
            "held_requests": len(self.pending),
            "inbox": self.pool.inbox.qsize(),  # relay messages read, not yet handled
            "inbox_overflow": self.pool.overflow,  # dropped: the inbox was full
            # delivery writes group-committed (db/worker.py); job notifications heard
            "db_groups": self.worker.groups,
            "db_writes": self.worker.writes,
            "job_notices": self.listener.notices if self.listener else None,
            "relays": status,
        }
        try:
            body["wallets"] = self.db.registry.wallet_count()
            body["queue"] = self.db.queue.job_count()
            body["database"] = "ok"
        except DatabaseUnavailable:
            body["database"] = "unavailable"
        return body


def _same_keys(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Two filter plans cover the same keys (the `since` alone does not warrant a new REQ)."""
    strip = [{k: v for k, v in f.items() if k != "since"} for f in a]
    return strip == [{k: v for k, v in f.items() if k != "since"} for f in b]
