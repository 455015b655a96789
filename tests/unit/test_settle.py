"""`settle` across a blue/green switch: a write reflected by the versions that were live, read from the next ones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticleViewed, Event
from events.log import Position
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.progress import Progress
from projections.store import Checkpoint
from projections.views import ARTICLES_VIEW
from services.errors import NotFound
from services.outcome import Pending, Projected, Written, settle
from services.writer import EventWriter, envelope
from tests.sealed import sealed_codec

WRITTEN = Written((Position("tribe.articles", 0, 7),))
BLUE = {"articles": "articles_v5"}
GREEN = {"articles": "articles_v6"}


class SwitchingWriter:
    """The views reflected the write when the wait ended (on `BLUE`); reads go to `live` afterwards.

    `wait_again` says whether the versions switched in catch up within a second wait; each wait
    judges what is live then.
    """

    def __init__(self, live: dict[str, str], wait_again: bool) -> None:
        self.live = live
        self.wait_again = wait_again
        self.waits = 0

    async def append_and_wait(
        self, events: Sequence[Event], wait: float | None = None
    ) -> tuple[Written, dict[str, str] | None]:
        return WRITTEN, BLUE

    async def switched_since(self, judged: dict[str, str]) -> bool:
        return self.live != judged

    async def wait_for(
        self, written: Written, wait: float | None = None, *, fresh: bool = False
    ) -> dict[str, str] | None:
        assert fresh, "a wait after a switch judges checkpoints read after it"
        self.waits += 1
        return self.live if self.wait_again else None


def reader(answers: list[Any]) -> Any:
    async def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    return read


async def test_a_read_that_finds_nothing_on_a_version_switched_in_waits_for_it_and_reads_again() -> None:
    writer = SwitchingWriter(live=GREEN, wait_again=True)
    outcome = await settle(cast(EventWriter, writer), [], reader([NotFound("article"), "the comment"]))
    assert outcome == Projected("the comment", WRITTEN) and writer.waits == 1


async def test_an_older_value_read_from_a_version_switched_in_is_read_again_once_it_caught_up() -> None:
    """The favorite just made, read from a version switched in that has not folded it yet: not favorited."""
    writer = SwitchingWriter(live=GREEN, wait_again=True)
    outcome = await settle(cast(EventWriter, writer), [], reader(["not favorited", "favorited"]))
    assert outcome == Projected("favorited", WRITTEN) and writer.waits == 1


async def test_when_the_new_version_does_not_catch_up_in_time_the_answer_is_provisional() -> None:
    writer = SwitchingWriter(live=GREEN, wait_again=False)
    outcome = await settle(
        cast(EventWriter, writer), [], reader([NotFound("article")]), provisional=lambda: "as posted"
    )
    assert outcome == Pending(WRITTEN, "as posted")


async def test_a_read_that_finds_nothing_on_the_versions_judged_is_a_true_404() -> None:
    writer = SwitchingWriter(live=BLUE, wait_again=True)
    with pytest.raises(NotFound):
        await settle(cast(EventWriter, writer), [], reader([NotFound("article"), "never read"]))
    assert writer.waits == 0


async def test_without_a_switch_the_first_read_is_the_answer() -> None:
    writer = SwitchingWriter(live=BLUE, wait_again=True)
    outcome = await settle(cast(EventWriter, writer), [], reader(["favorited", "never read"]))
    assert outcome == Projected("favorited", WRITTEN) and writer.waits == 0


async def test_a_write_reflected_before_a_switch_is_read_from_the_versions_switched_in(tmp_path: Path) -> None:
    """The real writer: the last round of checkpoints showed the write reflected by the versions switched out.

    The wait after the switch reads the checkpoints again, so it judges the versions switched in;
    answering from the round it already had would judge the old ones again, and again, forever.
    """
    store, log = SqliteStore(tmp_path / "store.db"), SqliteLog(tmp_path / "log.db")
    try:
        await install(store, (ARTICLES_VIEW,))
        writer = EventWriter(log, sealed_codec(), Progress(store, (ARTICLES_VIEW,)), wait_seconds=1.0)
        event = ArticleViewed(**envelope("u1"), article_id="a1")
        [position] = (await writer.append([event])).positions
        past = {(position.topic, position.partition): position.offset + 1}
        await store.write([], Checkpoint(ARTICLES_VIEW.projection_id(), past))
        assert await writer.wait_for(Written((position,))) == ARTICLES_VIEW.targets()

        switched_in = ARTICLES_VIEW.version + 1
        for alias, spec in ARTICLES_VIEW.collections.items():
            await store.ensure_collection(ARTICLES_VIEW.physical(alias, switched_in), spec)
        await store.write([], Checkpoint(ARTICLES_VIEW.projection_id(switched_in), past))
        await store.set_aliases(ARTICLES_VIEW.targets(switched_in))

        reads = []

        async def read() -> str:
            reads.append(await store.aliases())
            return "the article"

        async with asyncio.timeout(5):  # the same event again: the log answers the position it has
            outcome = await settle(writer, [event], read)
        assert isinstance(outcome, Projected) and outcome.value == "the article"
        assert reads[-1] == ARTICLES_VIEW.targets(switched_in)
    finally:
        await log.close()
        await store.close()
