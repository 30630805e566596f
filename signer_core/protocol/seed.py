"""The one-time seeding call that puts a wallet's first sealed blob into the app's Deno KV.

Deno Deploy has no REST call that writes KV entries (the v2 API has no database endpoints;
KV Connect, ``Deno.openKv("https://api.deno.com/v2/databases/<id>/connect")``, needs the
database id, which only the console shows). So the app seeds itself: the deploy command
POSTs the blob to the app, authenticated by a key only the holder of ROOT_SECRET has.

Both sides use this module: the deploy command (deploy/deno/setup.py) builds the call,
the app (functions/deno/entry.py) verifies it; the fake app of the tests does the same:

    POST {app URL}/_nwc/seed
    X-NWC-Seed: <unix seconds>.<hex HMAC-SHA256(seed_key, "<unix seconds>." + body)>
    Content-Type: application/json
    {"wallet_id": "<WALLET_ID>", "blob": "<base64 of the sealed blob>"}

    seed_key = HKDF-SHA256(ROOT_SECRET, salt="nwc-signer/v1",
                           info="nwc-signer/v1/deno-seed" 0x00 wallet_id)

Answers (JSON): 401 bad/missing/stale header (±300 s), checked before KV is touched;
400 bad body, or a blob whose header is not this wallet's; 409 ``{"error": "another
wallet"}`` when KV already holds another wallet's state; 503 ``{"error": "kv_unavailable"}``
when no KV database is assigned to the app; 201 ``{"state": "written", "generation": n}``
after a create-only write (atomic check: the key is absent) that also raises the rollback
guard to the blob's generation; 200 ``{"state": "exists", "generation": n}`` when this
wallet's state is already there (left as it is: a re-run never replaces live state).
Replaying a captured call is harmless: it can only write this wallet's first blob, and only
into an empty KV.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from base64 import b64encode

from signer_core.crypto.hkdf import hkdf
from signer_core.protocol.text import parse_uint
from signer_core.vault.keys import SALT, check_id

PATH = "/_nwc/seed"
HEADER = "X-NWC-Seed"
INFO_SEED_KEY = b"nwc-signer/v1/deno-seed"
MAX_SKEW = 300


def seed_key(root_secret: bytes, wallet_id: str) -> bytes:
    check_id("wallet id", wallet_id)
    return hkdf(root_secret, salt=SALT, info=INFO_SEED_KEY + b"\x00" + wallet_id.encode())


def _mac(key: bytes, ts: int, body: bytes) -> str:
    return hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def build(
    root_secret: bytes, wallet_id: str, blob: bytes, now: int
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the seeding call."""
    body = json.dumps({"wallet_id": wallet_id, "blob": b64encode(blob).decode()}).encode()
    mac = _mac(seed_key(root_secret, wallet_id), now, body)
    return {HEADER: f"{now}.{mac}", "Content-Type": "application/json"}, body


def verify(root_secret: bytes, wallet_id: str, header: str | None, body: bytes, now: int) -> bool:
    """True when ``header`` is a fresh MAC of ``body`` under this wallet's seed key."""
    ts_text, _, mac = (header or "").partition(".")
    ts = parse_uint(ts_text, max_digits=12)
    if ts is None or abs(now - ts) > MAX_SKEW:
        return False
    return hmac.compare_digest(mac, _mac(seed_key(root_secret, wallet_id), ts, body))
