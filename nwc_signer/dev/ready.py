"""Is the stack serving a connection? Asked the way an NWC app would find out: through the
connection's relays, the wallet's 13194 info event is there and a request is answered.

`nwc-signer dev` prints a connection URI only after this says yes (a URI handed out before
the watcher listens on the relay is a URI whose first requests are lost: relays keep no
ephemeral 23194 events for a subscription that comes later). The probe request is get_info,
which writes nothing. Until answered it is sent again every `resend_s` seconds (the earlier
ones may have reached the relay before the watcher's subscription), and an answer to any
of them counts, so a slow first answer is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nwc_signer.dev.nwc_app import NwcApp

INFO_KIND, REQUEST_KIND, RESPONSE_KIND = 13194, 23194, 23195


class NotServing(RuntimeError):
    """The stack did not serve the connection in time (the message says what is missing)."""


@dataclass
class Readiness:
    info_event: bool = False
    answered: bool = False
    requests_sent: int = 0
    seconds: float = 0.0
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.info_event and self.answered


def wait_until_serving(uri: str, *, timeout: float = 120.0, resend_s: float = 1.0) -> Readiness:
    """Block until the connection `uri` is served through its relays; raises NotServing."""
    return asyncio.run(_probe(uri, timeout, resend_s))


async def _probe(uri: str, timeout: float, resend_s: float) -> Readiness:
    import nostr_sdk as ns

    app = NwcApp.from_uri(uri)
    service = app.uri.service_pubkey
    state = Readiness()
    started = time.monotonic()
    client = ns.ClientBuilder().build()
    for url in app.uri.relays:
        await client.add_relay(ns.RelayUrl.parse(url))
    await client.connect(timedelta(seconds=5))
    sent: set[str] = set()
    replies = {"kinds": [RESPONSE_KIND], "authors": [service], "#p": [app.pubkey],
               "since": int(time.time()) - 10}  # fmt: skip
    await client.subscribe(ns.ReqTarget.auto([ns.Filter.from_json(json.dumps(replies))]))
    reader = asyncio.ensure_future(_read_replies(client.notifications(), sent, app, state))
    info = ns.Filter.from_json(json.dumps({"kinds": [INFO_KIND], "authors": [service]}))
    try:
        next_send = 0.0
        while not state.ready:
            now = time.monotonic()
            if now - started > timeout:
                raise NotServing(_missing(state, timeout))
            if not state.answered and now >= next_send:
                event = app.request("get_info")
                sent.add(event["id"])
                await client.send_event(ns.Event.from_json(json.dumps(dict(event))))
                state.requests_sent += 1
                next_send = now + resend_s
            if not state.info_event:
                found = await client.fetch_events(ns.ReqTarget.auto([info]), timedelta(seconds=1))
                state.info_event = len(found) > 0
            await asyncio.sleep(0.1)
    finally:
        reader.cancel()
        with contextlib.suppress(Exception):  # best effort: the answer is already known
            await asyncio.wait_for(client.shutdown(), 5)
    state.seconds = time.monotonic() - started
    return state


async def _read_replies(stream: Any, sent: set[str], app: NwcApp, state: Readiness) -> None:
    while True:
        item = await stream.next()
        if item is None or item.is_shutdown():
            return
        if not item.is_new_event():
            continue
        event = json.loads(item.event.as_json())
        if any(t[:2] == ["e", rid] for t in event["tags"] for rid in sent):
            state.reply = app.read(event)
            state.answered = True


def _missing(state: Readiness, timeout: float) -> str:
    gaps = []
    if not state.info_event:
        gaps.append("the wallet's info event (kind 13194) is not on the relays")
    if not state.answered:
        gaps.append(f"none of {state.requests_sent} get_info requests was answered")
    return f"not serving after {timeout:.0f} s: " + "; ".join(gaps)
