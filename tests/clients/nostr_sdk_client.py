"""nostr-sdk 0.45's NWC client as a test client.

`nostr_sdk.NostrWalletConnect` wraps seven methods: get_info, get_balance, pay_invoice,
pay_keysend, make_invoice, lookup_invoice, list_transactions. It has no generic request
(its `client()` is the plain relay client underneath). The other methods are sent with
nostr-sdk's own primitives instead (`via="nostr-sdk primitives"`): the request event built
and signed by EventBuilder, NIP-44 by `nip44_encrypt`/`nip44_decrypt`, published and awaited
by a nostr-sdk Client; only the JSON payload is framed here.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from datetime import timedelta
from typing import Any

import nostr_sdk as ns

from tests.clients.outcome import Outcome

WRAPPED = frozenset(
    {"get_info", "get_balance", "pay_invoice", "pay_keysend", "make_invoice", "lookup_invoice",
     "list_transactions"}
)  # fmt: skip
# NIP-47 codes, as nostr-sdk's error text names them ("Not implemented", "NOT_IMPLEMENTED", ...)
CODES = (
    "RATE_LIMITED", "NOT_IMPLEMENTED", "INSUFFICIENT_BALANCE", "QUOTA_EXCEEDED", "RESTRICTED",
    "UNAUTHORIZED", "INTERNAL", "UNSUPPORTED_ENCRYPTION", "PAYMENT_FAILED", "NOT_FOUND",
    "FEE_LIMIT_EXCEEDED", "OTHER",
)  # fmt: skip


def _run(coro: Any, timeout: float) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def plain(value: Any) -> Any:
    """A nostr-sdk response record as JSON-like data (Timestamps as seconds, enums by name)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, ns.Timestamp):
        return value.as_secs()
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, ns.Method):  # Method.GET_INFO(), ..., Method.UNKNOWN("get_budget")
        return getattr(value, "unknown", None) or type(value).__name__.rsplit(".")[-1].lower()
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def error_code(text: str) -> str | None:
    """The NIP-47 code in one of nostr-sdk's error texts, if it names one."""
    squashed = re.sub(r"[^A-Z]", "", text.upper())
    for code in CODES:
        if code.replace("_", "") in squashed:
            return code
    return None


class NostrSdkClient:
    """One connection URI; `call` sends one request and waits for its answer."""

    def __init__(self, uri: str, timeout: float = 60) -> None:
        self.uri_text, self.timeout = uri, timeout
        self.uri = ns.NostrWalletConnectUri.parse(uri)
        self.nwc = ns.NostrWalletConnect(self.uri)
        self.types: list[str] = []
        self.listener: Any = None

    def subscribe(self, types: list[str]) -> None:
        """NWC-02 notifications. The 0.45 Python NostrWalletConnect cannot subscribe to
        them, so: a nostr-sdk Client subscribed to kind 23197 for this connection (tests.e2e
        Listener), each event decrypted by nostr-sdk's nip44_decrypt."""
        from tests.e2e import Listener

        me = ns.Keys(self.uri.secret()).public_key().to_hex()
        flt = {"kinds": [23197], "authors": [self.uri.public_key().to_hex()], "#p": [me]}
        self.types = types
        self.listener = Listener([str(r) for r in self.uri.relays()], flt).__enter__()

    def service_info(self) -> dict[str, Any]:
        """The 13194 info event, fetched by a nostr-sdk Client (the NWC class does not expose
        it), in @getalby/sdk's shape: encryptions, capabilities, notifications."""
        from tests.e2e import fetch

        service = self.uri.public_key().to_hex()
        found = fetch([str(r) for r in self.uri.relays()], {"kinds": [13194], "authors": [service]})
        assert found, "no 13194 info event on the relays"
        event = max(found, key=lambda e: int(e["created_at"]))
        tags = {t[0]: t[1] for t in event["tags"] if len(t) > 1}
        return {
            "encryptions": tags.get("encryption", "nip04").split(),
            "capabilities": event["content"].split(),
            "notifications": tags.get("notifications", "").split(),
        }

    def notifications(self) -> list[dict[str, Any]]:
        events, self.listener.events = self.listener.events, []
        keys = ns.Keys(self.uri.secret())
        found = []
        for event in events:
            text = ns.nip44_decrypt(keys.secret_key(), self.uri.public_key(), event["content"])
            note: dict[str, Any] = json.loads(text)
            if note.get("notification_type") in self.types:
                found.append(note)
        return found

    def close(self) -> None:
        if getattr(self, "listener", None) is not None:
            self.listener.__exit__(None, None, None)
            self.listener = None

    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome:
        params = params or {}
        if method in WRAPPED:
            try:
                result = _run(self._wrapped(method, params), self.timeout)
            except ns.NostrSdkError as exc:
                return Outcome(method, "wrapper", None, error_code(str(exc)), str(exc))
            return Outcome(method, "wrapper", result)
        answer = _run(self._primitive(method, params), self.timeout)
        via = "nostr-sdk primitives"
        if answer.get("error"):
            err = answer["error"]
            return Outcome(method, via, None, err.get("code"), err.get("message", ""), answer)
        return Outcome(method, via, answer.get("result") or {}, raw=answer)

    async def _wrapped(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        nwc = self.nwc
        if method == "get_info":
            return dict(plain(await nwc.get_info()))
        if method == "get_balance":
            return {"balance": (await nwc.get_balance()).balance}
        if method == "pay_invoice":
            req = ns.PayInvoiceRequest(id=None, invoice=p["invoice"], amount=p.get("amount"))
            return dict(plain(await nwc.pay_invoice(req)))
        if method == "pay_keysend":
            req_k = ns.PayKeysendRequest(id=None, amount=p["amount"], pubkey=p["pubkey"],
                                         preimage=None, tlv_records=[])  # fmt: skip
            return dict(plain(await nwc.pay_keysend(req_k)))
        if method == "make_invoice":
            req_m = ns.MakeInvoiceRequest(
                amount=p["amount"], description=p.get("description"),
                description_hash=p.get("description_hash"), expiry=p.get("expiry"),
            )  # fmt: skip
            return dict(plain(await nwc.make_invoice(req_m)))
        if method == "lookup_invoice":
            req_l = ns.LookupInvoiceRequest(payment_hash=p.get("payment_hash"),
                                            invoice=p.get("invoice"))  # fmt: skip
            return dict(plain(await nwc.lookup_invoice(req_l)))
        if method == "list_transactions":
            req_t = ns.ListTransactionsRequest(
                _from=None, until=None, limit=p.get("limit"), offset=p.get("offset"),
                unpaid=p.get("unpaid"), transaction_type=None,
            )  # fmt: skip
            return {"transactions": plain(await nwc.list_transactions(req_t))}
        raise AssertionError(f"{method} is not wrapped")

    async def _primitive(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One NIP-47 request made of nostr-sdk parts: subscribe to the reply, publish, read."""
        keys = ns.Keys(self.uri.secret())
        service = self.uri.public_key()
        client = ns.ClientBuilder().build()  # no signer: the event is signed below
        try:
            for relay in self.uri.relays():
                await client.add_relay(relay)
            await client.connect(timedelta(seconds=5))
            payload = json.dumps({"method": method, "params": params})
            content = ns.nip44_encrypt(keys.secret_key(), service, payload, ns.Nip44Version.V2)
            event = (
                ns.EventBuilder(ns.Kind(23194), content)
                .tags([ns.Tag.parse(["p", service.to_hex()]),
                       ns.Tag.parse(["encryption", "nip44_v2"])])
                .finalize(keys)
            )  # fmt: skip
            flt = ns.Filter.from_json(json.dumps(
                {"kinds": [23195], "authors": [service.to_hex()], "#e": [event.id().to_hex()]}
            ))  # fmt: skip
            stream = await client.stream_events(
                ns.ReqTarget.auto([flt]), timeout=timedelta(seconds=self.timeout),
                policy=ns.ReqExitPolicy.WAIT_FOR_EVENTS_AFTER_EOSE(1),
            )  # fmt: skip
            await client.send_event(event)
            item = await stream.next()
            while item is not None and item.event is None:  # a relay's error: the next one
                item = await stream.next()
            if item is None or item.event is None:
                raise AssertionError(f"no reply to {method} within {self.timeout:.0f} s")
            text = ns.nip44_decrypt(keys.secret_key(), service, item.event.content())
            answer: dict[str, Any] = json.loads(text)
            return answer
        finally:
            await client.shutdown()
