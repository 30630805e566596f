"""The Python half of the Pyodide spike (issue #10); `pyodide_host.mjs` drives it.

Runs inside Pyodide in Node (and under CPython, for a check): builds a Cashu wallet in
memory, signs get_balance deliveries as the watcher and an NWC app would, answers them
through `signer_core.pipeline.handle_webhook` and decrypts the reply. It is a measuring
harness, not the Worker's entry point. Nothing from `signer_core` is imported at module
level, so the host can time those imports on their own.

Under Pyodide the Cashu backend cannot import (it imports coincurve directly, and no
Pyodide build of coincurve exists): `coincurve_import_chain` names where, and
`install_coincurve_stub` puts a stand-in in `sys.modules` that fails on any use. A
get_balance with no pending work never touches it, which is what the spike shows.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

# What a get_balance delivery imports lazily after `signer_core.pipeline` (found by
# diffing sys.modules around a first delivery; `first_delivery_imports` re-checks it).
REQUEST_PATH_MODULES = (
    "signer_core.request",
    "signer_core.methods.get_balance",
    "signer_core.wallets.cashu.wallet",
)
UNREACHABLE_MINT = "http://127.0.0.1:9"  # get_balance must not call it
# Proofs made up for the spike (never valid at any mint): 21 sats, so the reply's balance
# (21000 msat) shows the sealed state was opened and read, not defaulted.
PROOF_AMOUNTS = (1, 4, 16)


class MemoryStore:
    """`signer_core.stores.base.StateStore` in memory: one blob, an integer version."""

    def __init__(self) -> None:
        self.blob: bytes | None = None
        self.version = 0
        self.writes = 0

    def read(self) -> tuple[bytes, str] | None:
        return None if self.blob is None else (self.blob, str(self.version))

    def write(self, blob: bytes, expected_version: str | None) -> str:
        from signer_core.stores.base import VersionConflict

        current = None if self.blob is None else str(self.version)
        if current != expected_version:
            raise VersionConflict(f"expected {expected_version}, found {current}")
        self.blob = blob
        self.version += 1
        self.writes += 1
        return str(self.version)


class MemoryGuard:
    """`signer_core.stores.base.GenerationGuard` in memory (never lowered)."""

    def __init__(self) -> None:
        self.mark = 0

    def high_water(self) -> int:
        return self.mark

    def advance(self, generation: int) -> None:
        self.mark = max(self.mark, generation)


def coincurve_import_chain() -> str:
    """'' if the Cashu backend imports; else the import chain that reached coincurve.

    Imports it afresh (any stub and Cashu modules set aside, then put back), so it can run
    before or after the stub is installed."""
    saved = {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if name == "coincurve" or name.startswith("signer_core.wallets.cashu")
    }
    try:
        __import__("signer_core.wallets.cashu.wallet")
    except ModuleNotFoundError as exc:
        frames = [
            f"{f.filename.rsplit('/signer_core/', 1)[-1]}:{f.lineno} {f.line}"
            for f in traceback.extract_tb(exc.__traceback__)
            if "/signer_core/" in f.filename
        ]
        return f"{exc}: " + " -> ".join(frames)
    finally:
        for name in [n for n in sys.modules if n.startswith("signer_core.wallets.cashu")]:
            del sys.modules[name]
        sys.modules.update(saved)
    return ""


def install_coincurve_stub() -> None:
    """A `coincurve` whose classes refuse to be used: lets the Cashu modules import."""

    class _Refuses:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("coincurve is a stub under Pyodide (spike): point math refused")

        @classmethod
        def from_valid_secret(cls, secret: bytes) -> _Refuses:
            return cls()

        @classmethod
        def combine_keys(cls, keys: object) -> _Refuses:
            return cls()

    stub = types.ModuleType("coincurve")
    stub.PrivateKey = _Refuses  # type: ignore[attr-defined]
    stub.PublicKey = _Refuses  # type: ignore[attr-defined]
    stub.PublicKeyXOnly = _Refuses  # type: ignore[attr-defined]
    stub.__spike_stub__ = True  # type: ignore[attr-defined]
    sys.modules["coincurve"] = stub


def install_pbkdf2_shim() -> bool:
    """Give hashlib a pbkdf2_hmac (RFC 8018) if it lacks one; True if it had to.

    Pyodide's CPython has no OpenSSL-backed hashlib and 3.12+ dropped the pure fallback, so
    `mnemonic`'s seed derivation (wallet creation, `signer_core.admin.new_wallet_state`)
    fails there. Requests never derive the seed (the state caches it)."""
    if hasattr(hashlib, "pbkdf2_hmac"):
        return False

    def pbkdf2_hmac(
        hash_name: str, password: bytes, salt: bytes, iterations: int, dklen: int | None = None
    ) -> bytes:
        keyed = hmac.new(password, digestmod=hash_name)
        size = dklen or keyed.digest_size
        out = b""
        block = 0
        while len(out) < size:
            block += 1
            mac = keyed.copy()
            mac.update(salt + block.to_bytes(4, "big"))
            u = mac.digest()
            acc = int.from_bytes(u, "big")
            for _ in range(iterations - 1):
                mac = keyed.copy()
                mac.update(u)
                u = mac.digest()
                acc ^= int.from_bytes(u, "big")
            out += acc.to_bytes(len(u), "big")
        return out[:size]

    hashlib.pbkdf2_hmac = pbkdf2_hmac  # type: ignore[assignment]
    return True


@dataclass
class Harness:
    """An in-memory wallet with one connection, and get_balance deliveries signed for it."""

    store: MemoryStore
    guard: MemoryGuard
    secrets: Any  # signer_core.session.Secrets
    config: Any  # signer_core.attempt.SignerConfig
    client_secret: bytes = field(repr=False)
    service_pubkey: str
    watcher_secret: bytes = field(repr=False)
    requests: list[Any] = field(default_factory=list)  # pipeline.WebhookRequest
    responses: list[Any] = field(default_factory=list)  # webhook.WebhookResponse


_harness: Harness | None = None


def setup(deliveries: int = 1) -> dict[str, Any]:
    """Create the wallet (Cashu, no proofs) and sign `deliveries` get_balance requests."""
    global _harness
    from signer_core.admin import add_connection, new_wallet_state
    from signer_core.attempt import SignerConfig
    from signer_core.crypto import backend
    from signer_core.crypto.secp import generate_private_key, xonly_pubkey
    from signer_core.session import Secrets, create_wallet
    from signer_core.wallets.cashu.state import create_data

    shimmed = install_pbkdf2_shim()
    now = int(time.time())
    data = create_data(UNREACHABLE_MINT, now=now)
    data["proofs"] = [
        {"id": "00" + "ab" * 7, "amount": a, "secret": f"spike-{a}", "C": "02" + "11" * 32}
        for a in PROOF_AMOUNTS
    ]
    state = new_wallet_state(backend="cashu", backend_data=data, now=now)
    root = generate_private_key()
    watcher = generate_private_key()
    conn, uri = add_connection(
        state, root_secret=root, name="spike", relays=["ws://127.0.0.1:7777"], now=now
    )
    store, guard = MemoryStore(), MemoryGuard()
    create_wallet(store, guard, Secrets(root), state)
    config = SignerConfig(wallet_id=state.wallet_id, watcher_pubkey=xonly_pubkey(watcher).hex())
    _harness = Harness(
        store, guard, Secrets(root), config, bytes.fromhex(uri.secret), conn.service_pubkey,
        watcher,
    )  # fmt: skip
    _harness.requests = [_signed_get_balance(_harness, now) for _ in range(deliveries)]
    return {
        "crypto": backend.active(),
        "wallet_id": state.wallet_id,
        "writes": store.writes,
        "pbkdf2_shimmed": shimmed,
    }


def _signed_get_balance(h: Harness, now: int) -> Any:
    """One delivery exactly as the watcher POSTs it: NIP-44 request, signed webhook."""
    from signer_core.crypto import nip44
    from signer_core.pipeline import WebhookRequest
    from signer_core.protocol.events import sign_event
    from signer_core.protocol.webhook import request_delivery, signed_delivery

    key = nip44.get_conversation_key(h.client_secret, bytes.fromhex(h.service_pubkey))
    content = nip44.encrypt(json.dumps({"method": "get_balance", "params": {}}), key)
    tags = [["p", h.service_pubkey], ["encryption", "nip44_v2"]]
    event = sign_event(h.client_secret, 23194, content, tags, created_at=now)
    headers, body = signed_delivery(request_delivery(event), h.watcher_secret, now)
    return WebhookRequest(headers, body)


def deliver(index: int) -> int:
    """Answer prepared delivery `index` (the timed call: no signing, no decrypting)."""
    from signer_core.pipeline import handle_webhook

    h = _need()
    response = handle_webhook(
        h.requests[index], store=h.store, guard=h.guard, secrets=h.secrets, config=h.config
    )
    h.responses.append(response)
    return int(response.status)


def first_delivery_imports() -> list[str]:
    """Answer delivery 0 and list the signer_core modules it imported on the way."""
    before = set(sys.modules)
    deliver(0)
    return sorted(m for m in set(sys.modules) - before if m.startswith("signer_core"))


def reply(index: int = -1) -> dict[str, Any]:
    """Status, decrypted NIP-47 reply of response `index`, and the store's write count."""
    from signer_core.crypto import nip44
    from signer_core.protocol.events import verify_event

    h = _need()
    response = h.responses[index]
    out: dict[str, Any] = {"status": response.status, "message": response.message}
    if response.events:
        event = verify_event(response.events[0])
        key = nip44.get_conversation_key(h.client_secret, bytes.fromhex(event["pubkey"]))
        out["kind"] = event["kind"]
        out["from_service"] = event["pubkey"] == h.service_pubkey
        out["reply"] = json.loads(nip44.decrypt(event["content"], key))
    out["store_writes"] = getattr(h.store, "writes", None)
    return out


def import_modules(names: list[str]) -> float:
    """Import modules (not yet imported) and return the milliseconds it took."""
    started = time.perf_counter()
    for name in names:
        __import__(name)
    return (time.perf_counter() - started) * 1000


def pydantic_check() -> dict[str, Any]:
    """Import pydantic (vendored wheel) and validate pay_invoice params with our models."""
    started = time.perf_counter()
    import pydantic
    import pydantic_core

    imported = (time.perf_counter() - started) * 1000
    from signer_core.protocol.errors import NwcError
    from signer_core.protocol.models import PayInvoiceParams, parse_params

    try:
        parse_params(PayInvoiceParams, {"invoice": 5})
        refused = ""
    except NwcError as exc:
        refused = exc.message
    return {
        "pydantic": pydantic.VERSION,
        "pydantic_core": pydantic_core.__version__,
        "import_ms": round(imported, 1),
        "bad_params_refused": refused,
    }


def _need() -> Harness:
    if _harness is None:
        raise RuntimeError("call setup() first")
    return _harness


# --- the I/O question: synchronous Python blocking on async JS (JSPI) -------------------


def _ffi() -> Any:
    """`pyodide.ffi` (Pyodide only; imported by name so CPython tools do not look for it)."""
    return importlib.import_module("pyodide.ffi")


def _js() -> Any:
    return importlib.import_module("js")


def sync_get(url: str) -> str:
    """A plain synchronous function doing network I/O through JS fetch + run_sync."""
    run_sync = _ffi().run_sync
    response = run_sync(_js().fetch(url))
    return str(run_sync(response.text()))


async def jspi_ping(url: str) -> dict[str, Any]:
    """An async entry (as a Worker's on_fetch) calling synchronous code that blocks."""
    return {"ok": sync_get(url) == "pong", "can_run_sync": bool(_ffi().can_run_sync())}


OVERHEAD_KINDS = ("run_sync_resolved", "await_resolved", "fetch_run_sync", "fetch_await")


async def jspi_loop(kind: str, url: str, calls: int) -> None:
    """`calls` rounds of one way to wait for JS (the host times each loop, wall and CPU):
    run_sync / await on an already resolved promise, and a loopback fetch made from sync
    code through run_sync versus awaited directly in async code."""
    ffi, js = _ffi(), _js()
    for _ in range(calls):
        if kind == "run_sync_resolved":
            ffi.run_sync(js.Promise.resolve(1))
        elif kind == "await_resolved":
            await js.Promise.resolve(1)
        elif kind == "fetch_run_sync":
            sync_get(url)
        elif kind == "fetch_await":
            response = await js.fetch(url)
            await response.text()
        else:
            raise ValueError(f"unknown kind {kind!r}")


class FetchStore:
    """`StateStore` over an HTTP object store with ETag compare-and-swap (as R2's onlyIf),
    every call an awaited JS fetch made synchronous with run_sync: option (a)."""

    def __init__(self, base: str) -> None:
        self.url = f"{base}/blob"
        self.calls = 0

    def _fetch(self, init: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        ffi, js = _ffi(), _js()
        self.calls += 1
        options = ffi.to_js(init or {}, dict_converter=js.Object.fromEntries)
        response = ffi.run_sync(js.fetch(self.url, options))
        body = ffi.run_sync(response.arrayBuffer()).to_bytes()
        return int(response.status), bytes(body), str(response.headers.get("etag") or "")

    def read(self) -> tuple[bytes, str] | None:
        status, body, etag = self._fetch()
        return None if status == 404 else (body, etag)

    def write(self, blob: bytes, expected_version: str | None) -> str:
        from signer_core.stores.base import VersionConflict

        condition = (
            {"If-None-Match": "*"} if expected_version is None else {"If-Match": expected_version}
        )
        data = _ffi().to_js(blob)
        status, _, etag = self._fetch({"method": "PUT", "headers": condition, "body": data})
        if status == 412:
            raise VersionConflict(f"expected {expected_version}")
        return etag


async def jspi_delivery(base: str) -> dict[str, Any]:
    """A whole get_balance delivery, unchanged synchronous pipeline, over a FetchStore."""
    h = _need()
    store = FetchStore(base)
    current = h.store.read()
    assert current is not None
    store.write(current[0], None)
    h.store = store  # type: ignore[assignment]  # same protocol, other class
    store.calls = 0
    started = time.perf_counter()
    status = deliver(1)
    first = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    deliver(2)
    second = (time.perf_counter() - started) * 1000
    return {
        "status": status,
        "reply": reply(-1).get("reply"),
        "store_calls": store.calls,
        "first_ms": round(first, 2),
        "second_ms": round(second, 2),
    }
