"""The watcher service: registry in memory + SQLite, relay subscriptions, delivery, wake-ups.

Everything runs on one asyncio loop; SQLite calls are short and made from the loop (one writer).
The in-memory part is just `service pubkey -> wallet pubkey` (the local filter for kind-wide
subscriptions and the check before any signature work); function URLs and relays are read from
SQLite per delivery, which keeps 100,000 wallets well inside the memory budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay_watcher import registration, urls
from relay_watcher.db import Conflict, WatcherDB
from relay_watcher.delivery import DeliveryConfig, Dispatcher
from relay_watcher.metrics import Metrics
from relay_watcher.relays import RelayPool, plan_filters
from signer_core.crypto.secp import xonly_pubkey
from signer_core.protocol.events import InvalidEvent, verify_event

log = logging.getLogger("relay_watcher")

MAX_EVENT_BYTES = 128 * 1024


@dataclass
class WatcherConfig:
    db_path: Path
    lookback_s: int = 300  # re-subscriptions ask for this much history (the signer's freshness)
    info_interval_s: int = 6 * 3600  # re-publish every wallet's 13194 info events this often
    seen_retention_s: int = 3600
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    # local/dev stacks only: let function URLs reach loopback, private and link-local
    # addresses (relay_watcher/urls.py); a shared watcher keeps the default
    allow_private_function_urls: bool = False


class Watcher:
    def __init__(self, config: WatcherConfig, watcher_secret: bytes) -> None:
        self.config = config
        self.pubkey = xonly_pubkey(watcher_secret).hex()
        self.metrics = Metrics()
        self.db = WatcherDB(config.db_path)
        self.keys: dict[str, str] = {}  # service pubkey -> wallet pubkey
        self.pool = RelayPool(self.on_message)
        self.dispatcher = Dispatcher(
            self.db,
            self.metrics,
            watcher_secret,
            self.pool.publish,
            config.delivery,
            allow_private_urls=config.allow_private_function_urls,
            keys_changed=self._keys_changed,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._resubscribe = asyncio.Event()
        self._subscribing = asyncio.Lock()
        self.started = False

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._load_registry()
        await self.pool.start()
        await self._sync_subscriptions()
        for coro, name in (
            (self.dispatcher.run(), "dispatcher"),
            (self._scheduler(), "scheduler"),
            (self._subscriber(), "subscriber"),
        ):
            self._tasks.append(asyncio.create_task(coro, name=name))
        self.started = True
        log.info(
            "watcher %s… started: %d wallets, %d keys",
            self.pubkey[:12],
            self.db.registry.wallet_count(),
            len(self.keys),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()
        await self.pool.close()
        self.db.close()

    def _load_registry(self) -> None:
        keys: dict[str, str] = {}
        wallets: dict[str, str] = {}
        for service, wallet, _relays in self.db.registry.service_keys():
            keys[sys.intern(service)] = wallets.setdefault(wallet, sys.intern(wallet))
        self.keys = keys
        self.metrics.keys.set(len(keys))
        self.metrics.wallets.set(self.db.registry.wallet_count())

    # -- registration --------------------------------------------------------------------

    async def register(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Apply a signed registration; (HTTP status, JSON answer). Never raises."""
        now = int(time.time())
        try:
            reg = registration.verify(headers, body, now)
            if reg.action == "register":
                await urls.check_registration(
                    reg.function_url, allow_private=self.config.allow_private_function_urls
                )
            if reg.action == "unregister":
                found = self.db.registry.unregister(
                    reg.wallet_pubkey, reg.timestamp, reg.signature, now
                )
                answer: dict[str, Any] = {"wallet_pubkey": reg.wallet_pubkey, "removed": found}
            else:
                self.db.registry.register(
                    reg.wallet_pubkey,
                    reg.function_url,
                    list(reg.relays),
                    list(reg.service_pubkeys),
                    reg.timestamp,
                    reg.signature,
                    now,
                )
                answer = {
                    "wallet_pubkey": reg.wallet_pubkey,
                    "watcher_pubkey": self.pubkey,
                    "service_keys": len(reg.service_pubkeys),
                    "relays": list(reg.relays),
                }
        except registration.RegistrationError as exc:
            self.metrics.registrations.labels("refused").inc()
            return exc.status, {"message": str(exc)}
        except urls.UrlRefused as exc:
            self.metrics.registrations.labels("refused").inc()
            log.info("registration refused: %s", exc)
            return 400, {"message": str(exc)}
        except Conflict as exc:
            self.metrics.registrations.labels("conflict").inc()
            return 409, {"message": str(exc)}
        self.metrics.registrations.labels(reg.action).inc()
        log.info(
            "wallet %s… %sed (%d keys)",
            reg.wallet_pubkey[:12],
            reg.action,
            len(reg.service_pubkeys),
        )
        self._load_registry()
        self._resubscribe.set()
        self.dispatcher.kick.set()
        return 200, answer

    async def _keys_changed(self) -> None:
        """A function added or dropped connection keys (create/revoke_connection over NWC):
        subscribe for them now, before the reply that announces the key is published."""
        self._load_registry()
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
        per_relay: dict[str, list[str]] = defaultdict(list)
        for service, _wallet, relays in self.db.registry.service_keys():
            for url in json.loads(relays):
                per_relay[url].append(service)
        await self.pool.ensure_relays(set(per_relay))
        since = int(time.time()) - self.config.lookback_s
        for url, keys in per_relay.items():
            if url not in self.pool.relays:  # nostr-sdk refused the URL: skip it, not the rest
                continue
            filters = plan_filters(keys, since)
            current = self.pool.plans.get(url)
            if current is not None and _same_keys(current, filters):
                continue
            await self.pool.subscribe(url, filters)
        self.metrics.relays_total.set(len(self.pool.relays))

    # -- incoming relay messages ---------------------------------------------------------

    async def on_message(self, relay_url: str, text: str) -> None:
        """One raw relay message. Garbage is counted and dropped; never raises."""
        if len(text) > MAX_EVENT_BYTES + 1024:
            self.metrics.dropped.labels("oversize").inc()
            return
        try:
            msg = json.loads(text)
        except ValueError:
            self.metrics.dropped.labels("bad_json").inc()
            return
        if not isinstance(msg, list) or not msg or msg[0] != "EVENT":
            return  # OK, EOSE, NOTICE, CLOSED...: nothing to deliver
        raw = msg[2] if len(msg) >= 3 else None
        if not isinstance(raw, dict):
            self.metrics.dropped.labels("bad_event").inc()
            return
        if raw.get("kind") != 23194:
            self.metrics.dropped.labels("other_kind").inc()
            return
        tags = raw.get("tags")
        service = _p_tag(tags)
        wallet = self.keys.get(service) if service else None
        if wallet is None:
            self.metrics.dropped.labels("not_ours").inc()
            return
        try:
            event = verify_event(raw)
        except InvalidEvent:
            self.metrics.dropped.labels("invalid").inc()
            return
        if self.db.queue.accept_event(dict(event), wallet, [relay_url], int(time.time())):
            self.metrics.events.inc()
            self.dispatcher.kick.set()
        else:
            self.metrics.duplicates.inc()

    # -- wake-ups ------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        """Queue due wake-ups and info refreshes every second; housekeeping every minute."""
        last_cleanup = 0.0
        while True:
            now = int(time.time())
            try:
                queued = self.db.wakes.enqueue_due(now, self.config.info_interval_s)
                if queued:
                    self.metrics.wakes.inc(queued)
                    self.dispatcher.kick.set()
                if now - last_cleanup > 60:
                    self.db.queue.forget_seen(now - self.config.seen_retention_s)
                    last_cleanup = now
                    status = await self.pool.status()
                    self.metrics.relays_connected.set(
                        sum(1 for s in status.values() if s == "connected")
                    )
            except Exception:
                log.exception("scheduler step failed")
            await asyncio.sleep(1)

    async def health(self) -> dict[str, Any]:
        status = await self.pool.status()
        self.metrics.relays_connected.set(sum(1 for s in status.values() if s == "connected"))
        return {
            "ok": self.started,
            "watcher_pubkey": self.pubkey,
            "wallets": self.db.registry.wallet_count(),
            "service_keys": len(self.keys),
            "queue": self.db.queue.job_count(),
            "relays": status,
        }


def _same_keys(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Two filter plans cover the same keys (the `since` alone does not warrant a new REQ)."""
    strip = [{k: v for k, v in f.items() if k != "since"} for f in a]
    return strip == [{k: v for k, v in f.items() if k != "since"} for f in b]


def _p_tag(tags: object) -> str | None:
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, list) and len(tag) >= 2 and tag[0] == "p" and isinstance(tag[1], str):
            return tag[1]
    return None
