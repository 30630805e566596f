"""From raw relay messages to queued deliveries.

The relay reader (relays.py) only moves messages into a queue; this side drains it in
batches: garbage is counted and dropped, events for keys watched here are verified (id,
Schnorr), and the batch's requests are accepted in one transaction (de-dup + enqueue, one
commit however many). A reader that falls behind loses messages silently inside nostr-sdk
(its notification channel, 4,096 by default: a burst of 3,000 requests to one replica lost
920 there; with the channel raised and this split, none: scripts/bench_watcher_scale.py
throughput --replicas 1).

While the database is unreachable, requests are held in memory (in order, up to
MAX_PENDING_EVENTS) and accepted when it answers again: relays do not keep ephemeral events.

A wallet over its request rate (limits.py, `--wallet-rate`): the watcher cannot answer for
the wallet (only the function holds its keys), so it defers rather than refuses: the request
is queued to be delivered when the wallet's bucket has a token again. A request that would
wait more than `max_defer_s` (the app has likely given up) is dropped and counted
(`nwc_watcher_events_dropped_total{reason="rate_limited"}`, the wallet's `throttled` count);
the app sees no answer, as with any unanswered NWC request, and may retry.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from relay_watcher.db import DatabaseUnavailable, WatcherDB
from relay_watcher.db.queue import ACCEPTED, DUPLICATE, FULL
from relay_watcher.db.worker import DbThread
from relay_watcher.limits import TokenBuckets
from relay_watcher.metrics import Metrics
from signer_core.protocol.events import InvalidEvent, verify_event

log = logging.getLogger("relay_watcher")

MAX_EVENT_BYTES = 128 * 1024
MAX_PENDING_EVENTS = 10_000
REQUEST_KIND = 23194

Request = tuple[dict[str, Any], str, str]  # event, wallet pubkey, relay URL


class Intake:
    def __init__(
        self,
        db: WatcherDB,
        metrics: Metrics,
        keys: Callable[[], Mapping[str, str]],
        kick: Callable[[], None],
        max_queued: int | None,
        limiter: TokenBuckets | None = None,
        max_defer_s: float = 30.0,
        worker: DbThread | None = None,
    ) -> None:
        self.db, self.metrics, self.keys, self.kick = db, metrics, keys, kick
        self.worker = worker
        self.max_queued = max_queued
        self.limiter, self.max_defer_s = limiter, max_defer_s
        self.pending: deque[Request] = deque()

    async def on_messages(self, batch: list[tuple[str, str]]) -> None:
        """Raw relay messages (relay URL, text); never raises. Accepted on the database
        thread (db/worker.py) when there is one, so the loop goes on reading."""
        found = [r for r in (self.check(url, text) for url, text in batch) if r is not None]
        if not found:
            return
        if self.pending:  # the database is away: keep the order, queue behind the others
            self.hold(found)
            return
        now = int(time.time())
        kept, delays, refused = self._rate(found, now)
        try:
            if self.worker is not None:
                outcomes = await self.worker.call(
                    self._store, self.worker.db, kept, delays, refused, now
                )
            else:
                outcomes = self._store(self.db, kept, delays, refused, now)
        except DatabaseUnavailable as exc:
            log.warning("database unavailable; holding %d request(s) in memory: %s",
                        len(kept), exc)  # fmt: skip
            self.hold(kept)
            return
        self._count(kept, outcomes)

    def check(self, relay_url: str, text: str) -> Request | None:
        """A verified request for a key watched here, or None (counted by reason)."""
        if len(text) > MAX_EVENT_BYTES + 1024:
            self.metrics.dropped.labels("oversize").inc()
            return None
        try:
            msg = json.loads(text)
        except ValueError:
            self.metrics.dropped.labels("bad_json").inc()
            return None
        if not isinstance(msg, list) or not msg or msg[0] != "EVENT":
            return None  # OK, EOSE, NOTICE, CLOSED...: nothing to deliver
        raw = msg[2] if len(msg) >= 3 else None
        if not isinstance(raw, dict):
            self.metrics.dropped.labels("bad_event").inc()
            return None
        if raw.get("kind") != REQUEST_KIND:
            self.metrics.dropped.labels("other_kind").inc()
            return None
        service = _p_tag(raw.get("tags"))
        wallet = self.keys().get(service) if service else None
        if wallet is None:
            self.metrics.dropped.labels("not_ours").inc()
            return None
        try:
            event = verify_event(raw)
        except InvalidEvent:
            self.metrics.dropped.labels("invalid").inc()
            return None
        return dict(event), wallet, relay_url

    def _rate(self, found: list[Request], now: int) -> tuple[list[Request], list[float], list[str]]:
        """Requests within their wallet's rate with the delay each must wait, and the
        wallets of those refused (over the deferral allowed)."""
        if self.limiter is None:
            return found, [], []
        kept, delays, refused = [], [], []
        for item in found:
            delay = self.limiter.reserve(item[1], float(now), self.max_defer_s)
            if delay is None:
                log.warning("request %s for wallet %s… refused: over the wallet's request rate",
                            item[0]["id"][:12], item[1][:12])  # fmt: skip
                self.metrics.dropped.labels("rate_limited").inc()
                self.metrics.throttled.labels("request_refused").inc()
                self.metrics.tenants.inc(item[1], "throttled")
                refused.append(item[1])
                continue
            if delay > 0:
                self.metrics.throttled.labels("request_deferred").inc()
            kept.append(item)
            delays.append(delay)
        return kept, delays, refused

    def _store(self, db: WatcherDB, found: list[Request], delays: list[float],
               refused: list[str], now: int) -> list[str]:  # fmt: skip
        """De-dup + enqueue in one transaction, with the per-wallet counts of refusals."""
        items = [(event, wallet, [url]) for event, wallet, url in found]
        outcomes = db.queue.accept_events(items, now, self.max_queued, delays) if items else []
        full = [w for (_e, w, _u), o in zip(found, outcomes, strict=True) if o == FULL]
        for wallet, outcome in sorted(
            [(w, "throttled") for w in refused] + [(w, "dropped") for w in full]
        ):
            try:
                db.tenants.record(wallet, outcome, now)
            except Exception as exc:
                log.debug("counting a refusal failed: %s", exc)
        return outcomes

    def _count(self, found: list[Request], outcomes: list[str]) -> None:
        for (event, wallet, _url), outcome in zip(found, outcomes, strict=True):
            if outcome == ACCEPTED:
                self.metrics.events.inc()
            elif outcome == DUPLICATE:
                self.metrics.duplicates.inc()
            elif outcome == FULL:
                log.warning("request %s for wallet %s… refused: its queue is full",
                            event["id"][:12], wallet[:12])  # fmt: skip
                self.metrics.dropped.labels("wallet_queue_full").inc()
                self.metrics.tenants.inc(wallet, "dropped")
        if ACCEPTED in outcomes:
            self.kick()

    def accept(self, found: list[Request]) -> None:
        """Accept on the caller's connection (requests held through an outage: they were
        rated when they arrived); DatabaseUnavailable if it is still away."""
        now = int(time.time())
        self._count(found, self._store(self.db, found, [], [], now))

    def hold(self, found: list[Request]) -> None:
        """Kept until the database answers again (a relay does not keep ephemeral requests)."""
        for item in found:
            if len(self.pending) >= MAX_PENDING_EVENTS:
                self.metrics.dropped.labels("database_unavailable").inc()
                continue
            self.pending.append(item)

    def flush(self) -> None:
        """Accept what was held (the scheduler's step); DatabaseUnavailable keeps it held."""
        while self.pending:
            batch = [self.pending[i] for i in range(min(500, len(self.pending)))]
            self.accept(batch)
            for _ in batch:
                self.pending.popleft()


def _p_tag(tags: object) -> str | None:
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, list) and len(tag) >= 2 and tag[0] == "p" and isinstance(tag[1], str):
            return tag[1]
    return None
