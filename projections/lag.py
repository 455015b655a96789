"""How far each view's live version is behind the log, in events and in seconds, for the metrics.

A process that projects (a worker, or `tribe serve` on the embedded log) samples it every
`EVERY` seconds and sets the gauges of `ProjectionMetrics`: per view and partition, the entries
beyond the live checkpoint and the age of the oldest of them (its `occurred_at`, read from the
log), and per view the dead letters its live version holds. Every such process reports every
partition (the store's checkpoints are shared), so a dashboard takes the max over instances.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from events.codec import occurred_at_of
from events.log import Log
from projections.live import live_version
from projections.metrics import PartitionLag, ProjectionMetrics
from projections.store import Store
from projections.views import View

logger = structlog.get_logger("lag")

EVERY = 5.0  # seconds between samples


async def sample(log: Log, store: Store, views: Sequence[View]) -> list[PartitionLag]:
    """Every partition of every installed view: the live version's lag, now."""
    aliases = await store.aliases()
    heads = await log.end_offsets(sorted({tp for view in views for tp in view.partitions()}))
    now_ms = time.time() * 1000
    oldest: dict[tuple[str, int, int], float] = {}  # (topic, partition, offset) -> its event's age, seconds
    lags = []
    for view in views:
        version = live_version(view, aliases)
        if version is None:
            continue
        done = await store.checkpoint(view.projection_id(version))
        for topic, partition in view.partitions():
            at = done.get((topic, partition), 0)
            behind = max(0, heads.get((topic, partition), 0) - at)
            seconds = 0.0
            if behind:
                key = (topic, partition, at)
                if key not in oldest:
                    entries = await log.read(topic, partition, at, 1)
                    occurred = occurred_at_of(entries[0].value) if entries else now_ms
                    oldest[key] = max(0.0, (now_ms - occurred) / 1000)
                seconds = oldest[key]
            lags.append(PartitionLag(view.name, topic, partition, behind, seconds))
    return lags


async def dead_letters(store: Store, views: Sequence[View]) -> dict[str, int]:
    """The dead letters each installed view's live version holds."""
    aliases = await store.aliases()
    live = {}
    for view in views:
        version = live_version(view, aliases)
        if version is not None:
            live[view.projection_id(version)] = view.name
    counts = dict.fromkeys(live.values(), 0)
    for letter in await store.dead_letters():
        if letter.projection in live:
            counts[live[letter.projection]] += 1
    return counts


async def record(log: Log, store: Store, views: Sequence[View], metrics: ProjectionMetrics) -> None:
    """One sample into the gauges; a log or store that fails it is logged, and the gauges keep their values."""
    try:
        metrics.lagging(await sample(log, store, views), await dead_letters(store, views))
    except Exception as exc:  # the metrics are for people; the next sample tries again
        logger.warning("lag_not_sampled", error=repr(exc))


async def keep_recording(log: Log, store: Store, views: Sequence[View], metrics: ProjectionMetrics) -> None:
    """`record` every `EVERY` seconds, until cancelled."""
    while True:
        await record(log, store, views, metrics)
        await asyncio.sleep(EVERY)
