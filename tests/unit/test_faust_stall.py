"""A Faust consumer that stops handing a partition over while the log grows (projections/faust_worker.py
`Ownership.owe_stalled`): after `stall_after` seconds of nothing handed, the tick reads the rest from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from faust.types import TP as TopicPartition
from prometheus_client import CollectorRegistry

from events.adapters.sqlite_log import SqliteLog
from events.log import Entry
from events.routing import partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.faust_worker import Ownership, offer
from projections.feeder import TP, ViewFeeder
from projections.metrics import ProjectionMetrics
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW
from tests.integration.workload import burst
from tests.sealed import records_of_events, sealed_codec
from tests.unit.test_worker_retries import fed, replayed

STALL = 10.0
VIEWS = (ARTICLES_VIEW, NOTIFICATIONS_VIEW)
TPS = sorted({(topic, p) for view in VIEWS for topic in view.topics for p in range(partitions(topic))})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountedLog(SqliteLog):
    """The SQLite log, counting the partitions whose ends it was asked for."""

    asked: list[Sequence[tuple[str, int]]]

    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        self.asked.append(list(partitions))
        return await super().end_offsets(partitions)


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[CountedLog]:
    log = CountedLog(tmp_path / "log.db")
    log.asked = []
    await log.append(await records_of_events(sealed_codec(), burst(300, seed=7, users=6, articles=6)))
    yield log
    await log.close()


async def every_entry(log: SqliteLog) -> list[Entry]:
    return [e for topic, p in TPS for e in await log.read(topic, p, 0, 1000)]


async def assigned(
    log: SqliteLog, feeders: list[ViewFeeder], clock: Clock, metrics: ProjectionMetrics | None = None
) -> Ownership:
    """An ownership of every partition the views read, owed its assignment as a tick does (nothing committed yet)."""
    ownership = Ownership(log, "stalls", feeders, metrics, stall_after=STALL, clock=clock)
    ownership.assigned(None, {TopicPartition(*tp) for tp in TPS})
    await ownership.owe()
    return ownership


async def hand_over(feeders: list[ViewFeeder], entries: list[Entry], ownership: Ownership) -> None:
    """What the Faust agents do with a batch: an agent per topic offers it to every view that reads the topic."""
    for topic in sorted({e.position.topic for e in entries}):
        for feeder in feeders:
            if topic in feeder.view.topics:
                mine = [e for e in entries if e.position.topic == topic]
                await offer(feeder, topic, mine, ownership, ProjectionMetrics())


async def tick(feeders: list[ViewFeeder]) -> None:
    for feeder in feeders:
        async with feeder.turn:
            await feeder.tick()
            await feeder.settle()


def feeders_of(store: SqliteStore, log: SqliteLog) -> list[ViewFeeder]:
    return [ViewFeeder(view, store, sealed_codec(), log) for view in VIEWS]


async def test_a_partition_handed_nothing_for_stall_after_seconds_is_read_from_the_log(
    log: CountedLog, store: SqliteStore, tmp_path: Path
) -> None:
    clock, feeders, registry = Clock(), feeders_of(store, log), CollectorRegistry()
    ownership = await assigned(log, feeders, clock, ProjectionMetrics(registry))
    everything = await every_entry(log)
    first = [e for e in everything if e.position.offset < 5]  # then the consumer hands over nothing more
    await hand_over(feeders, first, ownership)

    assert await ownership.owe_stalled() == {}
    clock.now += STALL - 0.1
    assert await ownership.owe_stalled() == {}
    assert log.asked == [], "the log was asked before any partition had been quiet for stall_after"

    clock.now += 0.2
    stalled = await ownership.owe_stalled()
    ends = {tp: await log.end_offset(*tp) for tp in TPS}
    assert stalled == {tp: end for tp, end in ends.items() if end > 5}
    assert registry.get_sample_value("tribe_worker_stalled_partitions_total") == len(stalled)
    await tick(feeders)

    for view in VIEWS:
        assert await store.checkpoint(view.projection_id()) == {
            tp: end for tp, end in ends.items() if end and tp[0] in view.topics
        }
        assert await fed(store, view) == await replayed(log, view, tmp_path / f"replay-{view.name}.db")


async def test_a_consumer_that_keeps_handing_over_is_left_alone(log: CountedLog, store: SqliteStore) -> None:
    clock, feeders = Clock(), feeders_of(store, log)
    ownership = await assigned(log, feeders, clock)
    everything = await every_entry(log)
    busy = {(e.position.topic, e.position.partition) for e in everything if e.position.offset >= 25}
    for step in range(1, 6):  # a few events of every partition every stall_after / 2
        await hand_over(feeders, [e for e in everything if (step - 1) * 5 <= e.position.offset < step * 5], ownership)
        assert await ownership.owe_stalled() == {}
        clock.now += STALL / 2
    assert busy and not busy & {tp for asked in log.asked for tp in asked}, "the log was asked of a busy partition"


async def test_a_caught_up_partition_costs_one_ask_of_the_log_per_stall_after(
    log: CountedLog, store: SqliteStore
) -> None:
    clock, feeders = Clock(), feeders_of(store, log)
    ownership = await assigned(log, feeders, clock)
    await hand_over(feeders, await every_entry(log), ownership)  # everything: nothing is behind

    await ownership.owe_stalled()
    for _ in range(30):
        clock.now += STALL / 10
        assert await ownership.owe_stalled() == {}
    assert [sorted(asked) for asked in log.asked] == [TPS] * 3


async def test_a_revoked_partition_is_never_owed_and_assigned_back_waits_stall_after_again(
    log: CountedLog, store: SqliteStore
) -> None:
    clock, feeders = Clock(), feeders_of(store, log)
    ownership = await assigned(log, feeders, clock)
    await hand_over(feeders, [e for e in await every_entry(log) if e.position.offset < 5], ownership)
    ends = {tp: await log.end_offset(*tp) for tp in TPS}
    moving: TP = min(tp for tp, end in ends.items() if end > 5)  # one the consumer left behind
    await ownership.owe_stalled()
    clock.now += STALL
    await ownership.revoked(None, {TopicPartition(*moving)})

    stalled = await ownership.owe_stalled()
    assert stalled and moving not in stalled
    assert all(moving not in asked for asked in log.asked)

    # Back, at the offset the group committed, which is where its consumer had got to: it is not owed
    # at once for the quiet before the move, only after stall_after more of it.
    await log.commit("stalls", {moving: 5})
    ownership.assigned(None, {TopicPartition(*moving)})
    await ownership.owe()
    assert moving not in await ownership.owe_stalled()
    clock.now += STALL
    assert moving in await ownership.owe_stalled()
