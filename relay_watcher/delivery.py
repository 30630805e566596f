"""Webhook delivery from the durable queue: at least once, bounded retries, per-wallet limits.

Status semantics are docs/webhook.md's: 2xx publish and done; 409 retry soon (Retry-After);
other 4xx drop (recorded as a dead letter, never retried); 5xx and transport errors retry with
exponential back-off and jitter; after `max_attempts` a dead letter. A function URL whose
address the watcher refuses (urls.py) is a dead letter at once, the function never contacted.
A function's answer is stored before its events are published, so a restart publishes
instead of re-delivering.

The POSTs go through webhook_http.py (keep-alive HTTP/1.1 on asyncio streams, the address
rules of urls.py on every new connection); httpx stays for registration challenges.

Database work runs on the database thread (db/worker.py), not on the event loop: claims and
reads as calls, the writes at the end of a delivery as group commits. Function URLs and
relays are cached for WALLET_CACHE_S (a registration here drops the entry at once; one made
at another replica is seen within that time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from relay_watcher import urls, webhook_http
from relay_watcher.db import DatabaseUnavailable, Job, Wallet, WatcherDB
from relay_watcher.db.worker import DbThread
from relay_watcher.metrics import Metrics
from signer_core.protocol.events import InvalidEvent, verify_event
from signer_core.protocol.keyproof import verify_service_key_proof
from signer_core.protocol.webhook import (
    Delivery,
    WebhookResponse,
    parse_response,
    request_delivery,
    signed_delivery,
    wake_delivery,
)

log = logging.getLogger("relay_watcher.delivery")

Publish = Callable[[dict[str, Any], list[str]], Awaitable[bool]]
KeysChanged = Callable[[str, list[str], list[str]], Awaitable[None]]
WALLET_CACHE_S = 2.0
WALLET_CACHE_MAX = 50_000


@dataclass
class DeliveryConfig:
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    busy_retry_s: float = 2.0  # 409 without Retry-After
    per_wallet: int = 2  # across all replicas (the claim counts the wallet's live leases)
    concurrency: int = 32  # per replica
    claim_batch_s: float = 0.01  # while deliveries are in flight, claim at most this often
    lease_s: float = 30.0  # renewed while in flight; after a crash, redelivered this much later
    connect_timeout_s: float = 5.0
    timeout_s: float = 60.0  # a payment may take a while at the function
    max_response_bytes: int = 1024 * 1024


def backoff(attempt: int, cfg: DeliveryConfig, retry_after: float | None = None) -> float:
    """Seconds until the next try: Retry-After if given, else 2^(n-1) * base, jittered."""
    if retry_after is not None:
        return min(max(retry_after, 0.1), cfg.backoff_max_s)
    raw = min(cfg.backoff_base_s * 2 ** (attempt - 1), cfg.backoff_max_s)
    return float(raw * random.uniform(0.5, 1.0))


class Dispatcher:
    def __init__(
        self,
        db: WatcherDB,
        metrics: Metrics,
        watcher_secret: bytes,
        publish: Publish,
        cfg: DeliveryConfig | None = None,
        *,
        worker: DbThread,
        owner: str = "local",
        allow_private_urls: bool = False,
        keys_changed: KeysChanged | None = None,
    ) -> None:
        # `db` is the caller's connection (lease renewal from the heartbeat); the delivery
        # path uses the worker's own connection, on its thread
        self.db, self.metrics, self.publish_event = db, metrics, publish
        self.worker = worker
        self._wallets: dict[str, tuple[float, Wallet | None]] = {}
        self._urls: dict[str, httpx.URL] = {}  # parsed function URLs (parsing: ~4% of a loop)
        self.owner = owner  # this replica's id: the lease holder of the jobs it claims
        self.keys_changed = keys_changed
        self._secret = watcher_secret
        self.cfg = cfg or DeliveryConfig()
        self.kick = asyncio.Event()
        self.in_flight: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=self.cfg.concurrency * 2)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.cfg.timeout_s, connect=self.cfg.connect_timeout_s),
            limits=limits,
            follow_redirects=False,
            trust_env=False,
            # the address of every new connection is checked as it is opened (urls.py)
            transport=None if allow_private_urls else urls.GuardedTransport(limits),
        )  # registration challenges (challenge.py); deliveries use `webhooks`
        self.webhooks = webhook_http.WebhookClient(
            connect_timeout_s=self.cfg.connect_timeout_s,
            timeout_s=self.cfg.timeout_s,
            max_response_bytes=self.cfg.max_response_bytes,
            allow_private=allow_private_urls,
            max_idle=self.cfg.concurrency * 2,
        )

    async def run(self) -> None:
        """Claim due jobs until cancelled; woken early by `kick` when something is queued.
        A database outage pauses claiming (retried every second); jobs in flight go on."""
        while True:
            self.kick.clear()
            if self.in_flight and self.cfg.claim_batch_s > 0:
                # busy: one claim for the jobs that end and arrive meanwhile, not one each
                # (a claim is a transaction under the claim lock: it was half of the
                # database thread's time when every finished delivery claimed at once)
                await asyncio.sleep(self.cfg.claim_batch_s)
            room = self.cfg.concurrency - len(self.in_flight)
            jobs: list[Job] = []
            nxt: float | None = None
            try:
                if room > 0:  # full: the next job to end kicks
                    jobs, nxt = await self.worker.call(self._claim, room)
            except DatabaseUnavailable as exc:
                log.warning("claiming deliveries paused: %s", exc)
            except Exception:
                log.exception("claiming deliveries failed; retrying")
            for job in jobs:
                self.in_flight.add(job.id)
                task = asyncio.create_task(self._run_job(job))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            wait = 1.0 if nxt is None else min(max(nxt - time.time(), 0.05), 1.0)
            if jobs and room > 0:
                wait = min(wait, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.kick.wait(), wait)

    def _claim(self, room: int) -> tuple[list[Job], float | None]:
        """On the database thread: due jobs leased to us, and when the next one is due (only
        asked when none was: with jobs claimed the loop looks again within 50 ms anyway)."""
        q = self.worker.db.queue
        jobs = q.claim(self.owner, time.time(), room, self.cfg.per_wallet, self.cfg.lease_s)
        return jobs, None if jobs else q.next_due()

    async def _wallet(self, pubkey: str) -> Wallet | None:
        now = time.monotonic()
        cached = self._wallets.get(pubkey)
        if cached is not None and now - cached[0] < WALLET_CACHE_S:
            return cached[1]
        found = await self.worker.call(self.worker.db.registry.wallet, pubkey)
        if len(self._wallets) >= WALLET_CACHE_MAX:
            self._wallets.clear()
        self._wallets[pubkey] = (now, found)
        return found

    def _url(self, text: str) -> httpx.URL:
        """urls.parse, remembered (a refused URL raises each time: it is not kept)."""
        url = self._urls.get(text)
        if url is None:
            url = urls.parse(text)
            if len(self._urls) >= WALLET_CACHE_MAX:
                self._urls.clear()
            self._urls[text] = url
        return url

    def forget_wallet(self, pubkey: str) -> None:
        """Its registration changed here: read it again on its next delivery."""
        self._wallets.pop(pubkey, None)

    async def _done(self, job: Job, outcome: str, *ops: Callable[[WatcherDB], Any]) -> None:
        """Write `ops` (or the job's end) and count it, in one group commit."""
        if not ops:
            ops = (lambda db: db.queue.finish(job.id),)
        self.metrics.tenants.inc(job.wallet_pubkey, outcome)
        self.worker.count(job.wallet_pubkey, outcome)
        await asyncio.gather(*(self.worker.write(op) for op in ops))

    def renew_leases(self) -> None:
        """Keep the leases of the jobs in flight here (the replica's heartbeat calls this):
        on the database thread, like every write to our jobs (db/worker.py: no deadlock
        between this replica's two connections)."""
        if not self.in_flight:
            return
        ids, until = sorted(self.in_flight), time.time() + self.cfg.lease_s
        task = asyncio.get_running_loop().create_task(self._renew(ids, until))
        self.tasks.add(task)
        task.add_done_callback(self._renewed)

    async def _renew(self, ids: list[str], until: float) -> None:
        await self.worker.write(lambda db: db.queue.renew(self.owner, ids, until))

    def _renewed(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("renewing leases failed (they come back after expiry): %s",
                        task.exception())  # fmt: skip

    async def _run_job(self, job: Job) -> None:
        try:
            if job.state == "publish":
                await self._publish(job, job.events or [], job.attempts)
            else:
                await self._deliver(job)
        except Exception as exc:
            # the lease, if this fails too (database gone), runs out and the job comes back
            if isinstance(exc, DatabaseUnavailable):
                log.warning("delivery %s interrupted (%s); it comes back", job.id[:16], exc)
            else:
                log.exception("delivery %s failed unexpectedly; retrying later", job.id[:16])
            with contextlib.suppress(Exception):
                at = time.time() + 5
                await self.worker.write(lambda db: db.queue.retry_later(
                    job.id, job.attempts + 1, at, "internal error", self.owner))  # fmt: skip
        finally:
            self.in_flight.discard(job.id)
            self.kick.set()

    def _delivery(self, job: Job, attempt: int) -> Delivery:
        if job.kind == "wake":
            return wake_delivery(delivery_id=job.id, attempt=attempt)
        relays = job.payload.get("relays", [])
        return request_delivery(job.payload["event"], relays, delivery_id=job.id, attempt=attempt)

    async def _deliver(self, job: Job) -> None:
        wallet = await self._wallet(job.wallet_pubkey)
        if wallet is None:
            log.info("dropping delivery %s: wallet no longer registered", job.id[:16])
            self.metrics.deliveries.labels(job.kind, "unregistered").inc()
            await self.worker.write(lambda db: db.queue.finish(job.id))
            return
        attempt = job.attempts + 1
        delivery = self._delivery(job, attempt)
        headers, body = signed_delivery(delivery, self._secret, int(time.time()))
        started = time.perf_counter()
        answer: WebhookResponse | None = None
        try:
            url = self._url(wallet.function_url)  # stored before this check existed?
            res = await self.webhooks.post(url, body, headers)
            status, error = res.status, ""
            answer = self._answer(res)
        except urls.UrlRefused as exc:  # never retried: the address itself is refused
            log.warning("delivery %s not sent: %s", job.id[:16], exc)
            self.metrics.deliveries.labels(job.kind, "refused").inc()
            await self._dead(job, attempt, str(exc))
            return
        except webhook_http.HttpError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        self.metrics.latency.observe(time.perf_counter() - started)
        if answer is not None and 200 <= status < 300:
            events = _publishable(answer.events)
            wake_at = answer.wake_at
            if wake_at is not None:
                await self.worker.write(lambda db: db.wakes.set_wake(job.wallet_pubkey, wake_at))
            if answer.keys:  # before publishing: the reply tells the app the key is live
                await self._apply_keys(job.wallet_pubkey, answer.keys)
            self.metrics.deliveries.labels(job.kind, "ok").inc()
            if not events:  # nothing to publish (most wake-ups): done here
                await self._done(job, "delivered")
                return
            await self.worker.write(lambda db: db.queue.to_publish(job.id, events, 0, self.owner))
            await self._publish(job, events, 0, wallet.relays)
            return
        message = error or (answer.message if answer is not None else "")
        hinted = answer.retry_after if answer is not None else None
        if status == 409:
            self.metrics.deliveries.labels(job.kind, "busy").inc()
            delay = backoff(attempt, self.cfg, self.cfg.busy_retry_s if hinted is None else hinted)
        elif 400 <= status < 500:
            log.warning("delivery %s refused with %d: %s", job.id[:16], status, message)
            self.metrics.deliveries.labels(job.kind, "dropped").inc()
            await self._dead(job, attempt, f"HTTP {status}: {message}")
            return
        else:
            self.metrics.deliveries.labels(job.kind, "retry").inc()
            delay = backoff(attempt, self.cfg, hinted)
        await self._retry_or_give_up(job, attempt, delay, f"HTTP {status}: {message}")

    async def _apply_keys(self, wallet: str, keys: dict[str, Any]) -> None:
        """Serve the keys a create_connection made and drop the ones revoked; an added key
        counts only with its proof by that key over this wallet (docs/nwc-admin-methods.md)."""
        add = [k["pubkey"] for k in keys.get("add", [])
               if verify_service_key_proof(k["pubkey"], k["proof"], wallet)]  # fmt: skip
        if len(add) < len(keys.get("add", [])):
            log.warning("function answer for %s… carried a key without a valid proof; ignored",
                        wallet[:12])  # fmt: skip
        remove = [k for k in keys.get("remove", []) if isinstance(k, str)]
        changed = await self.worker.call(self.worker.db.registry.update_keys, wallet, add, remove)
        if changed:
            log.info("wallet %s… keys changed over NWC: +%d -%d", wallet[:12], len(add),
                     len(remove))  # fmt: skip
            if self.keys_changed is not None:
                await self.keys_changed(wallet, add, remove)

    async def _retry_or_give_up(self, job: Job, attempt: int, delay: float, error: str) -> None:
        if attempt >= self.cfg.max_attempts:
            log.warning("delivery %s dead after %d attempts: %s", job.id[:16], attempt, error)
            self.metrics.dead.inc()
            self.metrics.deliveries.labels(job.kind, "dead").inc()
            await self._dead(job, attempt, error)
            return
        log.info("delivery %s: %s; retry %d in %.1f s", job.id[:16], error, attempt + 1, delay)
        self.metrics.retries.inc()
        at = time.time() + delay
        await self.worker.write(
            lambda db: db.queue.retry_later(job.id, attempt, at, error, self.owner)
        )

    async def _dead(self, job: Job, attempt: int, error: str) -> None:
        now = int(time.time())
        await self._done(job, "failed", lambda db: db.queue.dead_letter(job, attempt, error, now))

    def _answer(self, res: webhook_http.Answer) -> WebhookResponse:
        """The function's answer; an oversized one is read as empty (nothing published)."""
        if res.too_large:
            log.warning("function answer over %d bytes; ignored", self.cfg.max_response_bytes)
            return WebhookResponse(res.status)
        return parse_response(res.status, res.headers, res.body)

    async def _publish(
        self, job: Job, events: list[dict[str, Any]], attempts: int, relays: list[str] | None = None
    ) -> None:
        if relays is None:
            wallet = await self._wallet(job.wallet_pubkey)
            relays = wallet.relays if wallet else []
        targets = list(dict.fromkeys([*relays, *job.payload.get("relays", [])]))
        failed = []
        for event in events:
            ok = await self.publish_event(event, targets)
            self.metrics.published.labels("ok" if ok else "failed").inc()
            if not ok:
                failed.append(event)
        if not failed:
            await self._done(job, "delivered")
            return
        attempt = attempts + 1
        await self.worker.write(lambda db: db.queue.to_publish(job.id, failed, attempt, self.owner))
        await self._retry_or_give_up(job, attempt, backoff(attempt, self.cfg), "publish failed")

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()
        await self.webhooks.aclose()
        self.worker.close()


def _publishable(events: list[Any]) -> list[dict[str, Any]]:
    """Only valid, signed events are published."""
    valid: list[dict[str, Any]] = []
    for item in events:
        try:
            valid.append(dict(verify_event(item)))
        except InvalidEvent as exc:
            log.warning("function returned an invalid event (%s); not published", exc)
    return valid
