"""`settle` across a blue/green switch: a write reflected by the version that was live, read from the next one."""

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


class SwitchingWriter:
    """The views reflected the write when the wait ended; `reflected_now` says whether the version read now does."""

    def __init__(self, reflected_now: bool, wait_again: bool) -> None:
        self.reflected_now = reflected_now
        self.wait_again = wait_again
        self.waits = 0

    async def append_and_wait(self, events: Sequence[Event], wait: float | None = None) -> tuple[Written, bool]:
        return WRITTEN, True

    async def reflected(self, written: Written) -> bool:
        return self.reflected_now

    async def wait_for(self, written: Written, wait: float | None = None) -> bool:
        self.waits += 1
        return self.wait_again


def reader(answers: list[Any]) -> Any:
    async def read() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    return read


async def test_a_read_that_finds_nothing_on_a_version_switched_in_waits_for_it_and_reads_again() -> None:
    writer = SwitchingWriter(reflected_now=False, wait_again=True)
    outcome = await settle(cast(EventWriter, writer), [], reader([NotFound("article"), "the comment"]))
    assert outcome == Projected("the comment", WRITTEN) and writer.waits == 1


async def test_when_the_new_version_does_not_catch_up_in_time_the_answer_is_provisional() -> None:
    writer = SwitchingWriter(reflected_now=False, wait_again=False)
    outcome = await settle(
        cast(EventWriter, writer), [], reader([NotFound("article")]), provisional=lambda: "as posted"
    )
    assert outcome == Pending(WRITTEN, "as posted")


async def test_a_read_that_finds_nothing_while_the_write_is_reflected_is_a_true_404() -> None:
    writer = SwitchingWriter(reflected_now=True, wait_again=True)
    with pytest.raises(NotFound):
        await settle(cast(EventWriter, writer), [], reader([NotFound("article"), "never read"]))
    assert writer.waits == 0
