"""`settle` across a blue/green switch: a write reflected by the versions that were live, read from the next ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from events.catalogue import Event
from events.log import Position
from services.errors import NotFound
from services.outcome import Pending, Projected, Written, settle
from services.writer import EventWriter

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

    async def wait_for(self, written: Written, wait: float | None = None) -> dict[str, str] | None:
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
