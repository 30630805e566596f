"""Per-tenant Prometheus metrics with bounded cardinality.

A label per wallet would be a million series on a shared watcher. So the per-wallet counter
`nwc_watcher_tenant_deliveries_total{wallet, outcome}` carries a wallet's own label only for
the `top_n` busiest wallets (by deliveries counted on this replica, `--tenant-metrics-top`,
default 50); every other wallet is summed into `wallet="other"`. At most top_n + 1 wallet
values, whatever the number of tenants.

Counts are kept for at most `10 * top_n` wallets (when more arrive, the less busy half is
folded into "other"): memory is bounded too, and a wallet busy enough to matter is kept.
Like Prometheus' own topk(), a wallet's series appears when it enters the top and goes when
it leaves it (its count then moves into "other"); sum by outcome is always exact.
Per-wallet totals for every wallet, exact and across replicas, are the operator command's
(`wallets list`, from the database).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

OTHER = "other"


class TenantCounter(Collector):
    def __init__(self, top_n: int = 50) -> None:
        self.top_n = max(0, top_n)
        self.capacity = max(10 * self.top_n, 100)
        self.counts: dict[str, Counter[str]] = {}  # wallet -> outcome -> count
        self.totals: Counter[str] = Counter()  # outcome -> count over every wallet

    def inc(self, wallet: str, outcome: str) -> None:
        self.totals[outcome] += 1
        found = self.counts.get(wallet)
        if found is None:
            if len(self.counts) >= self.capacity:
                self._fold()
            found = self.counts[wallet] = Counter()
        found[outcome] += 1

    def _fold(self) -> None:
        """Keep the busier half (their counts stay exact; the rest are in totals only)."""
        ranked = sorted(self.counts, key=lambda w: sum(self.counts[w].values()), reverse=True)
        for wallet in ranked[self.capacity // 2 :]:
            del self.counts[wallet]

    def top(self) -> list[str]:
        ranked = sorted(self.counts, key=lambda w: (-sum(self.counts[w].values()), w))
        return ranked[: self.top_n]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "nwc_watcher_tenant_deliveries",
            "deliveries per wallet by outcome; the busiest wallets by name, the rest as 'other'",
            labels=["wallet", "outcome"],
        )
        named: Counter[str] = Counter()
        for wallet in self.top():
            for outcome, count in sorted(self.counts[wallet].items()):
                family.add_metric([wallet, outcome], count)
                named[outcome] += count
        for outcome, total in sorted(self.totals.items()):
            family.add_metric([OTHER, outcome], total - named[outcome])
        yield family
