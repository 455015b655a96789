"""The projection runtimes' Prometheus metrics, counted where batches are run (never in a reducer).

Every runtime (the embedded runtime, the Kafka engine, the Faust workers) counts its batches,
retries and rebalances here; `projections/lag.py` sets the lag and dead-letter gauges a few
times a minute. The registry is the process's own (tribe/bootstrap.py builds it), exposed at
`/metrics` on the API or on the worker's HTTP port.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far one view's live version is behind one partition of the log."""

    view: str
    topic: str
    partition: int
    events: int  # entries in the log beyond the view's checkpoint
    seconds: float  # age of the oldest of them (0 when there are none)


class ProjectionMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter(
            "tribe_projection_events", "Events a view applied (rate() of it is its events per second)",
            ["view"], registry=registry,
        )
        self.batch_seconds = Histogram(
            "tribe_projection_batch_seconds", "Time a view took to fold and store one batch",
            ["view"], buckets=BATCH_BUCKETS, registry=registry,
        )
        self.parked = Counter(
            "tribe_projection_dead_letters_parked", "Events a view parked as dead letters", ["view"], registry=registry
        )
        self.retries = Counter(
            "tribe_projection_retries", "Failed batches of a view, each retried after its backoff",
            ["view"], registry=registry,
        )
        self.rebalances = Counter(
            "tribe_worker_rebalances", "Partitions assigned to, revoked from or lost by this worker's consumer",
            ["change"], registry=registry,
        )
        for change in ("assigned", "revoked", "lost"):
            self.rebalances.labels(change)
        self.stalls = Counter(
            "tribe_worker_stalled_partitions",
            "Partitions a Faust worker read from the log because its consumer had handed nothing of them over "
            "for stall_after seconds while the log held more",
            registry=registry,
        )
        self.lag_events = Gauge(
            "tribe_projection_lag_events", "Events in a partition beyond a view's live checkpoint",
            ["view", "topic", "partition"], registry=registry, multiprocess_mode="livemax",
        )
        self.lag_seconds = Gauge(
            "tribe_projection_lag_seconds", "Age of the oldest event of a partition a view has not applied yet",
            ["view", "topic", "partition"], registry=registry, multiprocess_mode="livemax",
        )
        # livemax: under `tribe serve --processes` one process records them (the one that folds the log);
        # its value, without a label per process.
        self.dead_letters = Gauge(
            "tribe_projection_dead_letters", "Dead letters a view's live version holds now", ["view"],
            registry=registry, multiprocess_mode="livemax",
        )

    def batch(self, view: str, *, applied: int, parked: int, seconds: float) -> None:
        """One batch of a view: events applied, events parked, its duration (a batch that settled none is not one)."""
        if not applied and not parked:
            return
        self.events.labels(view).inc(applied)
        self.parked.labels(view).inc(parked)
        self.batch_seconds.labels(view).observe(seconds)

    def retried(self, view: str) -> None:
        self.retries.labels(view).inc()

    def rebalanced(self, change: str, partitions: int) -> None:
        """`change`: assigned, revoked or lost."""
        self.rebalances.labels(change).inc(partitions)

    def stalled(self, partitions: int) -> None:
        self.stalls.inc(partitions)

    def lagging(self, lags: Iterable[PartitionLag], dead_letters: dict[str, int]) -> None:
        for lag in lags:
            labels = (lag.view, lag.topic, str(lag.partition))
            self.lag_events.labels(*labels).set(lag.events)
            self.lag_seconds.labels(*labels).set(lag.seconds)
        for view, count in dead_letters.items():
            self.dead_letters.labels(view).set(count)
