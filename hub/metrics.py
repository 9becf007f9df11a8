"""Prometheus metrics of one hub instance, in a registry of its own (tests run many hubs)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["Metrics"]

# `*_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sethub_http_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "sethub_delivery_attempts",
            "Delivery attempts, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.verifications = Counter(
            "sethub_verifications",
            "Verifications of intent, by mode and result",
            ["mode", "result"],
            registry=self.registry,
        )
        self.disabled = Counter(
            "sethub_subscriptions_disabled",
            "Subscriptions disabled after failing continuously",
            registry=self.registry,
        )
        self.events = Counter(
            "sethub_events_published", "Events accepted for distribution", registry=self.registry
        )
        self.ingested = Counter(
            "sethub_ingest_events",
            "Catalog events made from vendor webhooks at /ingest, by vendor",
            ["vendor"],
            registry=self.registry,
        )
        self.unmapped = Counter(
            "sethub_ingest_unmapped",
            "Vendor webhook events acknowledged without a catalog mapping, by vendor and name",
            ["vendor", "event"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "sethub_deliveries",
            "Deliveries in the store, by state",
            ["state"],
            registry=self.registry,
        )
        self.inflight = Gauge(
            "sethub_deliveries_in_flight", "Delivery requests under way", registry=self.registry
        )
        self.subscriptions = Gauge(
            "sethub_subscriptions_active", "Active subscriptions", registry=self.registry
        )
        self.store_available = Gauge(
            "sethub_store_available",
            "1 while the database takes writes, 0 while they fail (see /healthz for why)",
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "sethub_delivery_latency_seconds",
            "Time from an event's acceptance to its successful delivery",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.attempt_duration = Histogram(
            "sethub_delivery_attempt_seconds",
            "Duration of one delivery request",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
