"""The Faust agent's step (projections/faust_worker.py `offer`): a failing view keeps its failure to itself.

It sits out its backoff while the other views of the batch are stored, never stops the worker
and never skips an event: a tick reads what it missed from the log once the backoff is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from faust.types import TP as TopicPartition

from events.adapters.sqlite_log import SqliteLog
from events.routing import ARTICLES, FOLLOWS, partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.failures import Retry
from projections.faust_worker import Ownership, offer
from projections.feeder import ViewFeeder
from projections.live import install
from projections.metrics import ProjectionMetrics
from projections.processor import Projector
from projections.store import Checkpoint, DocWrite
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW, View
from replay.rebuild import all_docs, catch_up
from tests.integration.workload import burst
from tests.sealed import records_of_events, sealed_codec

T = TypeVar("T")
RETRY = Retry(retries=2, backoff=0.01)


class FlakyStore(SqliteStore):
    """The SQLite store, refusing the first `failures` bulk writes of the views named `failing`."""

    def __init__(self, path: Path, failures: int, failing: str = "") -> None:
        super().__init__(path)
        self.failures = failures
        self.failing = failing
        self.attempts = 0

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if checkpoint.projection.startswith(self.failing):
            self.attempts += 1
            if self.attempts <= self.failures:
                raise ConnectionError("the store is unreachable")
        await super().write(writes, checkpoint)


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    await log.append(await records_of_events(sealed_codec(), burst(200, seed=5, users=5, articles=5)))
    yield log
    await log.close()


async def entries(log: SqliteLog, topic: str = ARTICLES) -> list:
    return [e for p in range(partitions(topic)) for e in await log.read(topic, p, 0, 1000)]


def owned(log: SqliteLog) -> Ownership:
    """A worker's ownership with every partition its own (no rebalance signal)."""
    return Ownership(log, "retries", [])


def feeder(view: View, store: SqliteStore, log: SqliteLog) -> ViewFeeder:
    return ViewFeeder(view, store, sealed_codec(), log, retry=RETRY)


async def replayed(log: SqliteLog, view: View, path: Path) -> dict[str, dict]:
    store = SqliteStore(path)
    await install(store, (view,))
    await catch_up(log, Projector(store, sealed_codec(), view))
    docs = {alias: await all_docs(store, alias) for alias in view.collections}
    await store.close()
    return docs


async def fed(store: SqliteStore, view: View) -> dict[str, dict]:
    return {alias: await all_docs(store, alias) for alias in view.collections}


async def caught_up(view: ViewFeeder, store: SqliteStore, log: SqliteLog) -> None:
    """Tick as the Faust worker does until the view has stored the whole log: nothing more is delivered."""
    ends = {(t, p): await log.end_offset(t, p) for t in view.view.topics for p in range(partitions(t))}
    while await store.checkpoint(view.view.projection_id()) != {tp: end for tp, end in ends.items() if end}:
        await asyncio.sleep(0.01)
        async with view.turn:
            await view.tick()
            await view.settle()


async def test_a_failing_view_sits_out_its_backoff_while_the_other_is_stored_then_a_tick_catches_it_up(
    log: SqliteLog, tmp_path: Path
) -> None:
    store = FlakyStore(tmp_path / "store.db", failures=2, failing=NOTIFICATIONS_VIEW.name)
    articles, notifications = feeder(ARTICLES_VIEW, store, log), feeder(NOTIFICATIONS_VIEW, store, log)
    batch = await entries(log)
    for view in (articles, notifications):
        await offer(view, ARTICLES, batch, owned(log), ProjectionMetrics())
    assert sum((await store.checkpoint(ARTICLES_VIEW.projection_id())).values()) == len(batch)
    assert await store.checkpoint(NOTIFICATIONS_VIEW.projection_id()) == {}
    assert notifications.guard.attempts == 1
    [status] = [s for s in await store.statuses() if s.projection == NOTIFICATIONS_VIEW.projection_id()]
    assert (status.state, status.error) == ("retrying", "ConnectionError: the store is unreachable")

    await offer(notifications, FOLLOWS, await entries(log, FOLLOWS), owned(log), ProjectionMetrics())
    await caught_up(notifications, store, log)
    assert store.attempts == 3
    assert notifications.guard.attempts == 0
    assert await fed(store, NOTIFICATIONS_VIEW) == await replayed(log, NOTIFICATIONS_VIEW, tmp_path / "replay.db")
    await store.close()


async def test_a_failure_that_outlasts_the_retries_is_retried_on_and_never_skipped(
    log: SqliteLog, tmp_path: Path
) -> None:
    store = FlakyStore(tmp_path / "store.db", failures=100, failing=ARTICLES_VIEW.name)
    articles = feeder(ARTICLES_VIEW, store, log)
    batch = await entries(log)
    for _ in range(2 * RETRY.retries + 2):
        await offer(articles, ARTICLES, batch, owned(log), ProjectionMetrics())
        await asyncio.sleep(RETRY.delay(articles.guard.attempts))
    assert articles.guard.attempts > RETRY.retries
    assert await store.checkpoint(ARTICLES_VIEW.projection_id()) == {}
    store.failures = 0
    await caught_up(articles, store, log)
    assert await fed(store, ARTICLES_VIEW) == await replayed(log, ARTICLES_VIEW, tmp_path / "replay.db")
    await store.close()


async def test_the_agents_of_a_views_two_topics_and_the_tick_take_turns_while_it_fails(
    log: SqliteLog, tmp_path: Path
) -> None:
    """A failure resets what the view feeds from: no other task may be feeding it then (a KeyError did)."""
    store = FlakyStore(tmp_path / "store.db", failures=2, failing=NOTIFICATIONS_VIEW.name)
    notifications = feeder(NOTIFICATIONS_VIEW, store, log)
    inside, most = 0, 0

    def counted(step: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def run(*args: object, **kwargs: object) -> T:
            nonlocal inside, most
            inside += 1
            most = max(most, inside)
            try:
                return await step(*args, **kwargs)
            finally:
                inside -= 1

        return run

    notifications._submit = counted(notifications._submit)  # type: ignore[method-assign]
    notifications.failed = counted(notifications.failed)  # type: ignore[method-assign]
    by_topic = [await entries(log, topic) for topic in (ARTICLES, FOLLOWS)]
    assert all(by_topic)

    async def ticks() -> None:
        for _ in range(20):
            async with notifications.turn:
                await notifications.tick()
                await notifications.settle()
            await asyncio.sleep(0.005)

    ownership, topics = owned(log), (ARTICLES, FOLLOWS)
    agents = [offer(notifications, t, batch, ownership, ProjectionMetrics()) for t, batch in zip(topics, by_topic)]
    await asyncio.gather(*agents, ticks())
    await caught_up(notifications, store, log)
    assert most == 1
    assert await fed(store, NOTIFICATIONS_VIEW) == await replayed(log, NOTIFICATIONS_VIEW, tmp_path / "replay.db")
    await store.close()


class SlowStore(SqliteStore):
    """The SQLite store, each bulk write starting `delay` seconds after it is asked for."""

    def __init__(self, path: Path, delay: float) -> None:
        super().__init__(path)
        self.delay = delay
        self.writing = asyncio.Event()

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        self.writing.set()
        await asyncio.sleep(self.delay)
        await super().write(writes, checkpoint)


async def test_a_revoke_waits_for_the_write_in_flight_and_the_partitions_are_not_written_until_assigned_again(
    log: SqliteLog, tmp_path: Path
) -> None:
    """Faust moves a revoked partition once `revoked` returns: after that, this worker must not write it."""
    store = SlowStore(tmp_path / "store.db", delay=0.3)
    articles = feeder(ARTICLES_VIEW, store, log)
    ownership = Ownership(log, "moving", [articles])
    batch = await entries(log)
    first = [e for e in batch if e.position.offset < 10]
    tp = (ARTICLES, first[0].position.partition)
    moving = TopicPartition(*tp)

    feeding = asyncio.create_task(offer(articles, ARTICLES, first, ownership, ProjectionMetrics()))
    await store.writing.wait()
    await ownership.revoked(None, {moving})
    assert feeding.done(), "the revoke returned while its partition's write was in flight"
    stored = await store.checkpoint(ARTICLES_VIEW.projection_id())
    assert stored[tp] == sum(1 for e in first if e.position.partition == tp[1])

    await offer(articles, ARTICLES, batch, ownership, ProjectionMetrics())
    after = await store.checkpoint(ARTICLES_VIEW.projection_id())
    assert after[tp] == stored[tp], "a revoked partition was written"
    assert all(after[other] > at for other, at in stored.items() if other != tp)

    ownership.assigned(None, {moving})
    await offer(articles, ARTICLES, batch, ownership, ProjectionMetrics())
    assert await fed(store, ARTICLES_VIEW) == await replayed(log, ARTICLES_VIEW, tmp_path / "replay.db")
    await store.close()
