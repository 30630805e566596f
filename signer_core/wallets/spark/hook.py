"""Register the wallet's Breez webhook once, so an incoming payment wakes the function.

The URL is the relay-watcher's ``/v1/hooks/spark/<wallet>/<token>``, made by
``signer_core.protocol.sparkhook.hook_url`` where the root secret is at hand. It travels
with the wallet: ``data["webhook_url"]`` in the backend's slice of the sealed state, set
when the wallet is created with a public (https) watcher URL (``for_watcher``;
nwc_signer/wallet.create_local_wallet, used by the deploy commands), since a deployed
function has no wallet config. The wallet config's ``spark_webhook_url`` (a local folder's,
the dev stack's), where present, wins. The service provider POSTs there when a Lightning
receive or send finishes; the watcher answers with an immediate wake-up, whose sync reports
the payment. Nothing in the hook's body is trusted.

State: ``data["webhook"] = {"url", "id", "failed_at"}``. Registered inside a sync's SDK
build (no extra connect), after ``list_webhooks`` (a registration of the same URL is
adopted, so a lost state write does not register a second one); re-registered when the
configured URL changes (the old one is unregistered); a refusal is retried after
``RETRY_S``, never on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from signer_core.wallets.spark import errors

if TYPE_CHECKING:
    from signer_core.wallets.spark.wallet import SparkWallet

log = logging.getLogger(__name__)

CONFIG_KEY = "spark_webhook_url"
DATA_KEY = "webhook_url"  # in the backend's data: the URL the wallet was created with
RETRY_S = 3600
EVENTS = ("LIGHTNING_RECEIVE_FINISHED", "LIGHTNING_SEND_FINISHED")
_LOOPBACK = ("localhost", "127.", "[::1]", "0.0.0.0")  # noqa: S104 - names, not a bind


def wanted_url(wallet: SparkWallet) -> str:
    """The config's URL where given, else the one kept in the wallet's data."""
    for url in (wallet.env.config.get(CONFIG_KEY), wallet.data.get(DATA_KEY)):
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    return ""


def public(watcher_url: str) -> bool:
    """Can Breez's service provider reach this watcher? https, and not a loopback name."""
    if not watcher_url.startswith("https://"):
        return False
    host = watcher_url[len("https://") :].split("/", 1)[0].rsplit("@", 1)[-1].lower()
    return not host.startswith(_LOOPBACK)


def for_watcher(data: dict[str, Any], watcher_url: str, registration_secret: bytes) -> bool:
    """Keep the hook URL of a public watcher in a new wallet's data; False (and nothing
    kept) when Breez could not reach it."""
    from signer_core.protocol.sparkhook import hook_url

    if not public(watcher_url):
        return False
    data[DATA_KEY] = hook_url(watcher_url, registration_secret)
    return True


def secret(wallet: SparkWallet) -> str:
    """The HMAC secret Breez signs deliveries with: derived from the mnemonic, so the same
    wallet always registers the same one and it is never stored."""
    key = hashlib.sha256(b"nwc-signer/spark/webhook-secret\x00" + wallet.env.mnemonic.encode())
    return hmac.new(key.digest(), b"breez-webhook", hashlib.sha256).hexdigest()


def due(wallet: SparkWallet) -> bool:
    """Offline: does the configured URL still need registering (and is it time to try)?"""
    url = wanted_url(wallet)
    current = wallet.data.get("webhook") or {}
    if not url or (current.get("url") == url and current.get("id")):
        return False
    failed_at = current.get("failed_at")
    return not (failed_at and wallet.env.now - int(failed_at) < RETRY_S)


async def ensure(wallet: SparkWallet, client: Any) -> None:
    """Register (or move) the webhook on a connected SDK; failures are logged and retried
    later, never raised: the sync this runs in must go on."""
    if not due(wallet):
        return
    b = wallet.session.sdk
    url = wanted_url(wallet)
    current = dict(wallet.data.get("webhook") or {})
    try:
        # adopt a registration of this URL made by an attempt whose state write was lost
        # (or by a concurrent request): one webhook per URL, not one per try
        known = {str(h.id): str(h.url) for h in await client.list_webhooks()}
        old = str(current.get("id") or "")
        if old in known and known[old] != url:
            await client.unregister_webhook(b.UnregisterWebhookRequest(webhook_id=old))
        same = sorted(i for i, u in known.items() if u == url)
        if same:
            webhook_id = same[0]
        else:
            kinds = [getattr(b.WebhookEventType, name)() for name in EVENTS]
            answer = await client.register_webhook(
                b.RegisterWebhookRequest(url=url, secret=secret(wallet), event_types=kinds)
            )
            webhook_id = str(answer.webhook_id)
    except Exception as exc:
        log.info("spark: webhook registration failed (%s); retried later", errors.kind(exc))
        wallet.data["webhook"] = {**current, "failed_at": wallet.env.now}
        return
    wallet.data["webhook"] = {"url": url, "id": webhook_id, "failed_at": None}
    log.info("spark: webhook registered")
