"""The Python half of the Pyodide spike (issue #10); `pyodide_host.mjs` drives it.

Runs inside Pyodide in Node (and under CPython, for a check): builds a Cashu wallet in
memory, signs get_balance deliveries as the watcher and an NWC app would, answers them
through `signer_core.pipeline.handle_webhook` and decrypts the reply. It is a measuring
harness, not the Worker's entry point. Nothing from `signer_core` is imported at module
level, so the host can time those imports on their own.

Until 4515bfd the Cashu backend imported coincurve directly, and no Pyodide build of
coincurve exists: `coincurve_import_chain` names where an import still reaches it, and
`install_coincurve_stub` (used by the host only then) puts a stand-in in `sys.modules` that
fails on any use, enough for a get_balance with no pending work.
"""

from __future__ import annotations

import hashlib
import hmac
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


def export_fixture() -> str:
    """The wallet and signed deliveries as JSON, for a fresh interpreter to answer cold."""
    h = harness()
    current = h.store.read()
    assert current is not None
    return json.dumps(
        {
            "blob": current[0].decode("latin-1"),
            "mark": h.guard.mark,
            "root": h.secrets.root_secret.hex(),
            "wallet_id": h.config.wallet_id,
            "watcher_pubkey": h.config.watcher_pubkey,
            "client_secret": h.client_secret.hex(),
            "service_pubkey": h.service_pubkey,
            "requests": [[dict(r.headers), r.body.decode()] for r in h.requests],
        }
    )


def load_fixture(text: str) -> None:
    """Rebuild what `export_fixture` wrote (imports nothing the pipeline has not)."""
    global _harness
    from signer_core.pipeline import SignerConfig, WebhookRequest
    from signer_core.session import Secrets

    raw = json.loads(text)
    store, guard = MemoryStore(), MemoryGuard()
    store.write(raw["blob"].encode("latin-1"), None)
    store.writes = 0
    guard.advance(raw["mark"])
    _harness = Harness(
        store, guard, Secrets(bytes.fromhex(raw["root"])),
        SignerConfig(wallet_id=raw["wallet_id"], watcher_pubkey=raw["watcher_pubkey"]),
        bytes.fromhex(raw["client_secret"]), raw["service_pubkey"], b"",
    )  # fmt: skip
    _harness.requests = [WebhookRequest(hd, body.encode()) for hd, body in raw["requests"]]


def warm_crypto() -> None:
    """`signer_core.crypto.backend.warm()`: the pure tables, as a Worker snapshot could hold."""
    from signer_core.crypto import backend

    backend.warm()


def deliver(index: int) -> int:
    """Answer prepared delivery `index` (the timed call: no signing, no decrypting)."""
    from signer_core.pipeline import handle_webhook

    h = harness()
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

    h = harness()
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


def harness() -> Harness:
    """The wallet and deliveries `setup` made."""
    if _harness is None:
        raise RuntimeError("call setup() first")
    return _harness
