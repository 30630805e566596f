"""Breez/Spark webhooks: check that a delivery came from the service provider.

The SDK registers webhooks (``BreezSdk.register_webhook(url, secret, event_types)``) with
the Spark service provider, which POSTs JSON events (Lightning receive/send finished, ...)
and signs each with ``X-Spark-Signature``: HMAC-SHA256 of the raw body under the secret
given at registration. A verified event only says "look now": the function answers it with
a wake-up (sync), never trusting the event's content for balances.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Spark-Signature"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    """Constant-time check of a delivery's signature (hex, optionally ``sha256=``-prefixed)."""
    if not signature or not secret:
        return False
    given = signature.strip().lower().removeprefix("sha256=")
    return hmac.compare_digest(given, sign(body, secret))
