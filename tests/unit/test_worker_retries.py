"""A failing batch is retried with backoff, then stops the worker; it is never skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.routing import ARTICLES, partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.faust_worker import WorkerOptions, feed_with_retries
from projections.feeder import ViewFeeder
from projections.store import Checkpoint, DocWrite
from projections.views import ARTICLES_VIEW
from tests.integration.workload import burst
from tests.sealed import records_of_events, sealed_codec


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
