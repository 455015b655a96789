"""A failing batch is retried with backoff, then stops the worker; it is never skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.routing import ARTICLES, FOLLOWS, partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.faust_worker import WorkerOptions, feed_with_retries
from projections.feeder import ViewFeeder
from projections.store import Checkpoint, DocWrite
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW
from tests.integration.workload import burst
from tests.sealed import records_of_events, sealed_codec

T = TypeVar("T")


class FlakyStore(SqliteStore):
    """The SQLite store, refusing its first `failures` bulk writes."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts = 0

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("the store is unreachable")
        await super().write(writes, checkpoint)


class Stopped(Exception):
    pass


def stop(view: str, exc: BaseException) -> NoReturn:
    raise Stopped(view) from exc


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    await log.append(await records_of_events(sealed_codec(), burst(200, seed=5, users=5, articles=5)))
    yield log
    await log.close()


async def entries(log: SqliteLog) -> list:
    return [e for p in range(partitions(ARTICLES)) for e in await log.read(ARTICLES, p, 0, 1000)]


OPTIONS = WorkerOptions(app_id="retries", session_timeout=10.0, fetch_wait=1.5, retries=3, backoff=0.01)


async def test_a_transient_failure_is_retried_until_the_batch_is_written(log: SqliteLog, tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "store.db", failures=2)
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log)
    batch = await entries(log)
    result = await feed_with_retries(feeder, batch, OPTIONS, stop)
    assert result.processed == len(batch)
    assert store.attempts == 3
    assert sum((await store.checkpoint(ARTICLES_VIEW.projection_id())).values()) == len(batch)
    await store.close()


async def test_a_batch_that_keeps_failing_stops_the_worker_with_nothing_written(log: SqliteLog, tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "store.db", failures=100)
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log)
    with pytest.raises(Stopped) as stopped:
        await feed_with_retries(feeder, await entries(log), OPTIONS, stop)
    assert isinstance(stopped.value.__cause__, ConnectionError)
    assert store.attempts == OPTIONS.retries + 1
    assert await store.checkpoint(ARTICLES_VIEW.projection_id()) == {}
    await store.close()


async def test_the_agents_of_a_views_two_topics_take_turns_while_one_retries(log: SqliteLog, tmp_path: Path) -> None:
    """A failure resets what the view feeds from: the other topic's agent must not be feeding then (a KeyError did)."""
    store = FlakyStore(tmp_path / "store.db", failures=2)
    feeder = ViewFeeder(NOTIFICATIONS_VIEW, store, sealed_codec(), log)
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

    feeder.feed = counted(feeder.feed)  # type: ignore[method-assign]
    feeder.failed = counted(feeder.failed)  # type: ignore[method-assign]
    by_topic = [[e for p in range(partitions(t)) for e in await log.read(t, p, 0, 1000)] for t in (ARTICLES, FOLLOWS)]
    assert all(by_topic)
    results = await asyncio.gather(*(feed_with_retries(feeder, batch, OPTIONS, stop) for batch in by_topic))
    assert most == 1
    assert [r.processed for r in results] == [len(batch) for batch in by_topic]
    await store.close()
