"""Relay connections through nostr-sdk's client (it reconnects and re-sends subscriptions).

The watcher reads raw relay messages (`ClientNotification.MESSAGE`) rather than nostr-sdk's
de-duplicated event stream: it wants every copy (to count duplicates across relays) and every
piece of garbage (to count it); de-dup and verification are its own (service.py).

Filter plan per relay (docs/watcher.md): up to CHUNKED_MAX keys, `#p` filters of CHUNK keys
each (one subscription per chunk); above that, one kind-wide subscription filtered locally.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any

import nostr_sdk as ns

log = logging.getLogger("relay_watcher.relays")

REQUEST_KIND = 23194
CHUNK = 500
MAX_CHUNKS = 4
CHUNKED_MAX = CHUNK * MAX_CHUNKS

OnMessages = Callable[[list[tuple[str, str]]], Awaitable[None]]
INBOX_MAX = 100_000  # messages read but not yet handled; past it new ones are dropped
BATCH = 500
NOTIFICATIONS = 1 << 17


def plan_filters(pubkeys: Collection[str] | Collection[bytes], since: int) -> list[dict[str, Any]]:
    """The REQ filters (one subscription each) that cover `pubkeys` (hex, or 32-byte keys) on
    one relay. Past CHUNKED_MAX one kind-wide filter: nostr-sdk then holds no key at all."""
    if not pubkeys:
        return []
    if len(pubkeys) > CHUNKED_MAX:  # before sorting: a million keys need no order here
        return [{"kinds": [REQUEST_KIND], "since": since}]
    keys = sorted(k if isinstance(k, str) else k.hex() for k in pubkeys)
    return [
        {"kinds": [REQUEST_KIND], "#p": keys[i : i + CHUNK], "since": since}
        for i in range(0, len(keys), CHUNK)
    ]


class RelayPool:
    def __init__(self, on_messages: OnMessages, connect_timeout_s: float = 5.0) -> None:
        self.on_messages = on_messages
        # the reader only moves messages here, so it keeps up with nostr-sdk's channel (a
        # lagging reader loses messages there, silently); the consumer handles them in batches
        self.inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(INBOX_MAX)
        self.overflow = 0
        self.connect_timeout_s = connect_timeout_s
        # subscriptions only; nostr-sdk's notification channel (default 4,096, two
        # notifications per event) drops what a busy reader has not taken: a burst of 3,000
        # requests lost 920 of them on one replica with the default
        self.client = ns.ClientBuilder().notification_channel_size(NOTIFICATIONS).build()
        # Publishing on its own connections: a relay's OK to a publish would otherwise sit
        # unacknowledged on the subscription socket and hold the next request behind Nagle's
        # algorithm until the delayed ACK (~40 ms on loopback with nostr-sdk's LocalRelay).
        self.publisher = ns.ClientBuilder().build()
        self.relays: set[str] = set()
        self.subs: dict[str, list[str]] = {}  # relay -> subscription ids in use
        self._generation = 0  # makes every plan's subscription ids new
        self.plans: dict[str, list[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None

    def _opts(self) -> ns.RelayOptions:
        # garbage (oversize events...) must reach us to be counted; we check sizes ourselves
        return ns.RelayOptions().limits(ns.RelayLimits.disable()).reconnect(True)

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="relay-reader")
        self._consumer = asyncio.create_task(self._consume(), name="relay-consumer")

    async def ensure_relays(self, urls: set[str]) -> None:
        for url in sorted(urls - self.relays):
            try:
                for client in (self.client, self.publisher):
                    await client.add_relay(ns.RelayUrl.parse(url), None, False, self._opts())
                    await client.connect_relay(ns.RelayUrl.parse(url))
            except Exception as exc:  # a bad URL must not stop the others
                log.warning("cannot use relay %s: %s", url, exc)
                continue
            self.relays.add(url)
            log.info("relay added: %s", url)
        for url in sorted(self.relays - urls):
            await self.unsubscribe(url)
            for client in (self.client, self.publisher):
                try:
                    await client.remove_relay(ns.RelayUrl.parse(url), True)
                except Exception as exc:
                    log.warning("removing relay %s: %s", url, exc)
            self.relays.discard(url)
            self.plans.pop(url, None)

    async def subscribe(self, url: str, filters: list[dict[str, Any]]) -> None:
        """(Re-)subscribe one relay: the new plan's REQs go out under fresh ids, then the old
        ones are closed, so there is no gap. (nostr-sdk refuses a REQ under an id it already
        holds — "subscription ID already exists" — and says so only in the output.)"""
        if self.plans.get(url) == filters:
            return
        self._generation += 1
        old = self.subs.get(url, [])
        ids: list[str] = []
        for i, flt in enumerate(filters):
            sub_id = f"nwc-{abs(hash(url)) % 10**8}-{self._generation}-{i}"
            try:
                nfilter = ns.Filter.from_json(json.dumps(flt))
                target = ns.ReqTarget.single(ns.RelayUrl.parse(url), [nfilter])
                output = await self.client.subscribe(target, sub_id)
                refused = list(output.failed.values()) if output is not None else []
            except Exception as exc:
                refused = [str(exc)]
            if refused:
                log.warning("subscribing on %s failed (will retry): %s", url, refused[0])
                for made in ids:  # keep the old plan whole rather than half of the new one
                    await self._unsub(made)
                self.plans.pop(url, None)
                return
            ids.append(sub_id)
        for sub_id in old:
            await self._unsub(sub_id)
        self.subs[url] = ids
        self.plans[url] = filters

    async def unsubscribe(self, url: str) -> None:
        for sub_id in self.subs.pop(url, []):
            await self._unsub(sub_id)

    async def _unsub(self, sub_id: str) -> None:
        try:
            await self.client.unsubscribe(sub_id)
        except Exception as exc:
            log.debug("unsubscribe %s: %s", sub_id, exc)

    async def _read(self) -> None:
        stream = self.client.notifications()
        while True:
            try:
                item = await stream.next()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay notification stream error: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if item is None or item.is_shutdown():
                return
            if item.is_message():
                try:
                    self.inbox.put_nowait((str(item.relay_url), item.message.as_json()))
                except asyncio.QueueFull:
                    self.overflow += 1

    async def _consume(self) -> None:
        while True:
            batch = [await self.inbox.get()]
            while len(batch) < BATCH and not self.inbox.empty():
                batch.append(self.inbox.get_nowait())
            try:
                await self.on_messages(batch)
            except Exception:
                log.exception("handling relay messages failed")

    async def publish(self, event: dict[str, Any], urls: list[str], timeout_s: float = 5.0) -> bool:
        """Send one event to `urls`; True if at least one relay accepted it."""
        targets = [u for u in urls if u in self.relays]
        if not targets:
            return False
        try:
            out = await asyncio.wait_for(
                self.publisher.send_event(
                    ns.Event.from_json(json.dumps(event)),
                    ns.SendEventTarget.to([ns.RelayUrl.parse(u) for u in targets]),
                    None,
                    timedelta(seconds=timeout_s),
                ),
                timeout_s + 1,
            )
        except Exception as exc:
            log.warning("publishing event %s failed: %s", event.get("id", "?")[:12], exc)
            return False
        # a relay that already holds the event (a re-sent stored reply) has what we wanted
        refused = {u: m for u, m in out.failed.items() if "duplicate" not in str(m).lower()}
        if refused:
            log.info("event %s refused by %d relay(s): %s", event.get("id", "?")[:12],
                     len(refused), "; ".join(str(m)[:80] for m in refused.values()))  # fmt: skip
        return bool(out.success) or len(refused) < len(out.failed)

    async def status(self) -> dict[str, str]:
        try:
            relays = await self.client.relays()
        except Exception:
            return {}
        return {str(url): relay.status().name.lower() for url, relay in relays.items()}

    async def close(self) -> None:
        for task in (self._reader, self._consumer):
            if task:
                task.cancel()
        for client in (self.client, self.publisher):
            try:
                await asyncio.wait_for(client.shutdown(), 5)
            except Exception as exc:
                log.debug("client shutdown: %s", exc)


def now() -> int:
    return int(time.time())
