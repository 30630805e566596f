"""Admitting registrations (`PUT /v1/wallets`, `POST /v1/wallets/unregister`): rate limits
per client address and per wallet (429 + Retry-After), the signature (registration.py), the
function URL's address policy (urls.py) and its challenge (challenge.py), then the registry.

A mixin of the Watcher (service.py), which owns the state it uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from relay_watcher import registration, urls
from relay_watcher.challenge import ChallengeFailed, prove_function_url
from relay_watcher.db import Conflict, DatabaseUnavailable, Suspended, WatcherDB
from relay_watcher.delivery import Dispatcher
from relay_watcher.limits import TokenBuckets
from relay_watcher.metrics import Metrics
from relay_watcher.watching import Watching

if TYPE_CHECKING:
    from relay_watcher.service import WatcherConfig

log = logging.getLogger("relay_watcher")

Throttled = tuple[int, dict[str, Any]] | None


class Admission:
    # the Watcher's (service.py)
    config: WatcherConfig
    db: WatcherDB
    metrics: Metrics
    watching: Watching
    dispatcher: Dispatcher
    pubkey: str
    _secret: bytes
    _resubscribe: asyncio.Event
    registration_limits: TokenBuckets
    client_limits: TokenBuckets

    def _throttled(self, limits: TokenBuckets, key: str, rate: float, what: str) -> Throttled:
        """Take a token, or the 429 to answer."""
        wait = limits.take(key, time.time()) if rate > 0 else 0.0
        if wait > 0:
            self.metrics.throttled.labels("registration").inc()
            self.metrics.registrations.labels("throttled").inc()
            retry = max(1, int(wait + 0.999))
            return 429, {"message": f"too many registrations {what}: at most {rate:g} a "
                         f"minute; retry in {retry} s", "retry_after": retry}  # fmt: skip
        return None

    async def register(
        self, headers: dict[str, str], body: bytes, client: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """Apply a signed registration; (HTTP status, JSON answer). Never raises. A 429
        answer carries `retry_after` (seconds; the API sends it as Retry-After)."""
        now = int(time.time())
        cfg = self.config
        refused = self._throttled(self.client_limits, client, cfg.registrations_per_min_per_client,
                                  "from this address")  # fmt: skip
        if refused is not None:
            return refused
        try:
            reg = registration.verify(headers, body, now)
            refused = self._throttled(self.registration_limits, reg.wallet_pubkey,
                                      cfg.registrations_per_min, "of this wallet")  # fmt: skip
            if refused is not None:
                return refused
            if reg.action == "register":
                await urls.check_registration(
                    reg.function_url, allow_private=self.config.allow_private_function_urls
                )
                await self._challenge(reg)
                # watched here until its owners have read the new registry version
                self.watching.pin(reg.wallet_pubkey)
            self.dispatcher.forget_wallet(reg.wallet_pubkey)
            if reg.action == "unregister":
                gone = self.watching.view.keys_of(reg.wallet_pubkey)
                found = self.db.registry.unregister(
                    reg.wallet_pubkey, reg.timestamp, reg.signature, now
                )
                self.watching.edit(reg.wallet_pubkey, [], gone, [])
                answer: dict[str, Any] = {"wallet_pubkey": reg.wallet_pubkey, "removed": found}
            else:
                dropped = self.db.registry.register(
                    reg.wallet_pubkey,
                    reg.function_url,
                    list(reg.relays),
                    list(reg.service_pubkeys),
                    reg.timestamp,
                    reg.signature,
                    now,
                )
                old = self.watching.view.keys_of(reg.wallet_pubkey)
                # relays may have changed: re-add the wallet's keys under the new ones
                self.watching.edit(reg.wallet_pubkey, [], sorted(set(old) | set(dropped)), [])
                self.watching.edit(
                    reg.wallet_pubkey, list(reg.service_pubkeys), [], list(reg.relays)
                )
                answer = {
                    "wallet_pubkey": reg.wallet_pubkey,
                    "watcher_pubkey": self.pubkey,
                    "service_keys": len(reg.service_pubkeys),
                    "relays": list(reg.relays),
                }
        except registration.RegistrationError as exc:
            self.metrics.registrations.labels("refused").inc()
            return exc.status, {"message": str(exc)}
        except urls.UrlRefused as exc:
            self.metrics.registrations.labels("refused").inc()
            log.info("registration refused: %s", exc)
            return 400, {"message": str(exc)}
        except ChallengeFailed as exc:
            self.metrics.registrations.labels("challenge_failed").inc()
            log.info("registration of %s… refused: %s", reg.wallet_pubkey[:12], exc)
            return exc.status, {"message": f"registration refused: {exc}"}
        except Conflict as exc:
            self.metrics.registrations.labels("conflict").inc()
            return 409, {"message": str(exc)}
        except Suspended as exc:
            self.metrics.registrations.labels("suspended").inc()
            return 403, {"message": str(exc)}
        except DatabaseUnavailable as exc:
            log.warning("registration not stored: %s", exc)
            return 503, {"message": "the watcher's database is unavailable; retry shortly"}
        self.metrics.registrations.labels(reg.action).inc()
        log.info(
            "wallet %s… %sed (%d keys)",
            reg.wallet_pubkey[:12],
            reg.action,
            len(reg.service_pubkeys),
        )
        self._resubscribe.set()
        self.dispatcher.kick.set()
        return 200, answer

    async def _challenge(self, reg: registration.Registration) -> None:
        """A new wallet, or a new function URL: the function must prove it is the wallet's
        (challenge.py). A re-registration at the same URL (connections changed) is not asked
        again."""
        if not self.config.challenge_function_urls:
            return
        known = self.db.registry.wallet(reg.wallet_pubkey)
        if known is not None and known.function_url == reg.function_url:
            return
        await prove_function_url(
            self.dispatcher.http,
            self._secret,
            self.pubkey,
            reg.wallet_pubkey,
            reg.function_url,
            self.config.challenge_timeout_s,
        )
