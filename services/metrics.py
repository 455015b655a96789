"""The write path's Prometheus metrics: events appended by topic, read-your-writes waits and their timeouts."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class WriteMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.appended = Counter(
            "tribe_events_appended", "Events the log acknowledged, by topic", ["topic"], registry=registry
        )
        self.waits = Histogram(
            "tribe_read_your_writes_wait_seconds",
            "Time a request waited for the views to reflect a position (a write's own, or a reader's X-Tribe-After)",
            ["waiter"], buckets=WAIT_BUCKETS, registry=registry,
        )
        self.timeouts = Counter(
            "tribe_read_your_writes_timeouts",
            "Waits that ran out before the views reflected the position (a write then answers 202)",
            ["waiter"], registry=registry,
        )
        for waiter in ("write", "read"):  # every series exists from the start, at 0
            self.waits.labels(waiter)
            self.timeouts.labels(waiter)

    def appended_to(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self.appended.labels(topic).inc()

    def waited(self, waiter: str, seconds: float, reflected: bool) -> None:
        """`waiter`: `write` (a write waiting for its own events) or `read` (a reader's X-Tribe-After)."""
        self.waits.labels(waiter).observe(seconds)
        if not reflected:
            self.timeouts.labels(waiter).inc()
