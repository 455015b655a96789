"""A reader waiting for positions its own process wrote costs no round trip to the log's head."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticleViewed
from events.log import Position
from projections.adapters.sqlite_store import SqliteStore
from projections.progress import Progress
from projections.views import VIEWS
from services.errors import BadQuery
from services.writer import EventWriter, envelope
from tests.sealed import sealed_codec


class CountingLog(SqliteLog):
    """The embedded log, counting how often its heads are asked for."""

    asked = 0

    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        self.asked += 1
        return await super().end_offsets(partitions)


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[EventWriter]:
    log = CountingLog(tmp_path / "log.db")
    store = SqliteStore(tmp_path / "store.db")
    yield EventWriter(log, sealed_codec(), Progress(store, VIEWS), wait_seconds=0.05)
    await log.close()
    await store.close()


def viewed(n: int) -> list[ArticleViewed]:
    return [ArticleViewed(**envelope("u1"), article_id=f"a{i}") for i in range(n)]


async def test_its_own_acknowledged_positions_are_not_asked_of_the_log(writer: EventWriter) -> None:
    written = await writer.append(viewed(10))
    await writer.caught_up(written.positions)
    assert isinstance(writer.log, CountingLog) and writer.log.asked == 0


async def test_a_position_past_what_it_wrote_is_asked_of_the_log_and_refused(writer: EventWriter) -> None:
    [p] = (await writer.append(viewed(1))).positions
    beyond = Position(p.topic, p.partition, p.offset + 1)
    with pytest.raises(BadQuery):
        await writer.caught_up([beyond])
    assert isinstance(writer.log, CountingLog) and writer.log.asked == 1
