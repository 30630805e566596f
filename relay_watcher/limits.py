"""Per-tenant rate limits: token buckets kept in memory, one set per replica.

Why per replica and not in the database: a bucket in the database costs a row update (and
a hot row for the busiest wallet) on every request, from every replica, on the path the
throughput goal is about; here it is a dict look-up. What it gives up is exactness across
replicas: a wallet's requests reach only the replicas subscribed to it (`--copies`, 2), so a
wallet gets at most `copies` times its rate in all. The hard, exact per-wallet ceilings stay
in the database: the queue quota (`--max-queued-per-wallet`) and concurrent deliveries
(`--per-wallet`). Registration limits are per replica too: behind a load balancer that
spreads requests over R replicas, a client gets at most R times the limit.

Memory is bounded: at most `max_keys` buckets (least recently used dropped first; a dropped
bucket comes back full, which only ever favours the tenant).
"""

from __future__ import annotations

from collections import OrderedDict


class TokenBuckets:
    """`rate_per_s` tokens a second, up to `burst`, per key."""

    def __init__(self, rate_per_s: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate_per_s, max(burst, 1.0), max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def take(self, key: str, now: float) -> float:
        """Take a token: 0.0 if one was there, else the seconds until one will be (nothing
        taken; the caller refuses with Retry-After)."""
        if self.rate <= 0:
            return 0.0
        level = self._level(key, now)
        if level >= 1.0:
            self._store(key, level - 1.0, now)
            return 0.0
        return (1.0 - level) / self.rate

    def reserve(self, key: str, now: float, max_delay: float) -> float | None:
        """Take a token now or from the future: the seconds to wait before using it (0.0 =
        at once), or None if that would be more than `max_delay` (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        level = self._level(key, now)
        delay = 0.0 if level >= 1.0 else (1.0 - level) / self.rate
        if delay > max_delay:
            return None
        self._store(key, level - 1.0, now)
        return delay
