"""Prometheus metrics of one watcher (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from relay_watcher.tenant_metrics import TenantCounter


class Metrics:
    def __init__(self, tenant_top_n: int = 50) -> None:
        r = self.registry = CollectorRegistry()
        # per wallet, bounded: the busiest tenant_top_n by name, the rest as "other"
        self.tenants = TenantCounter(tenant_top_n)
        r.register(self.tenants)
        self.throttled = Counter(
            "nwc_watcher_throttled_total",
            "refusals and deferrals by a rate limit (limits.py): request_deferred (queued for"
            " later), request_refused (over the deferral: dropped), registration (429)",
            ["what"],
            registry=r,
        )
        self.events = Counter(
            "nwc_watcher_events_total", "NWC request events accepted for delivery", registry=r
        )
        self.duplicates = Counter(
            "nwc_watcher_events_duplicate_total",
            "request events seen again (another relay, re-subscription) and not re-delivered",
            registry=r,
        )
        self.dropped = Counter(
            "nwc_watcher_events_dropped_total",
            "relay messages dropped before delivery, by reason",
            ["reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "nwc_watcher_deliveries_total",
            "webhook attempts by outcome (ok, retry, busy, dropped, dead)",
            ["kind", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "nwc_watcher_delivery_retries_total", "deliveries scheduled for another try", registry=r
        )
        self.dead = Counter(
            "nwc_watcher_dead_letters_total", "deliveries given up and recorded", registry=r
        )
        self.latency = Histogram(
            "nwc_watcher_delivery_seconds",
            "webhook round trip to the signer function",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.published = Counter(
            "nwc_watcher_published_total",
            "events published by outcome (ok: at least one relay took it)",
            ["outcome"],
            registry=r,
        )
        self.relays_connected = Gauge(
            "nwc_watcher_relays_connected", "relays with a live connection", registry=r
        )
        self.relays_total = Gauge("nwc_watcher_relays", "relays in use", registry=r)
        self.queue = Gauge("nwc_watcher_queue_depth", "deliveries waiting or in flight", registry=r)
        self.leased = Gauge(
            "nwc_watcher_queue_leased", "deliveries leased by a replica (in flight)", registry=r
        )
        self.replicas = Gauge("nwc_watcher_replicas_live", "live replicas seen", registry=r)
        self.held = Gauge(
            "nwc_watcher_held_requests",
            "requests held in memory while the database is unreachable",
            registry=r,
        )
        self.wallets = Gauge("nwc_watcher_wallets", "registered wallets", registry=r)
        self.keys = Gauge("nwc_watcher_service_keys", "registered wallet-service keys", registry=r)
        self.wakes = Counter("nwc_watcher_wakes_total", "scheduled wake-ups queued", registry=r)
        self.registrations = Counter(
            "nwc_watcher_registrations_total",
            "registration requests by outcome",
            ["outcome"],
            registry=r,
        )
