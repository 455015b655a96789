"""What a write service returns: the read model after the write, or where the write is durable.

No exception carries a success: a write whose projections have not caught up within the
wait is a `Pending`. Where the answer follows from the event and what the service read before
appending it (an article just published, a follow), the service gives it as `provisional`, and
the edge answers with it as usual, marked as ahead of the read model; otherwise the edge
answers 202 with the positions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from events.catalogue import Event
from events.log import Position
from services.errors import NotFound

if TYPE_CHECKING:
    from services.writer import EventWriter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written:
    """Where the events of one write are durable, in the order they were given."""

    positions: tuple[Position, ...]

    def token(self) -> str:
        """The positions as the X-Tribe-Position header carries them (read-your-writes): the last one per partition.

        Reading after the last position of a partition is reading after every earlier one, and the
        header stays short whatever the batch (a batch of 1,000 events on one partition would
        otherwise list 1,000 positions, more than clients and proxies take in one header line).
        """
        last: dict[tuple[str, int], Position] = {}
        for p in self.positions:
            key = (p.topic, p.partition)
            if key not in last or last[key].offset < p.offset:
                last[key] = p
        return ",".join(p.token() for p in last.values())


@dataclass(frozen=True, slots=True)
class Projected(Generic[T]):
    """The write is reflected by every view it feeds; `value` is read from them."""

    value: T
    written: Written


@dataclass(frozen=True, slots=True)
class Pending(Generic[T]):
    """The write is durable at `written`, but not projected within the wait."""

    written: Written
    provisional: T | None = None
    """The answer as the event implies it, when the service could build it without the views."""


Outcome = Projected[T] | Pending[T]


async def settle(
    writer: EventWriter,
    events: Sequence[Event],
    read: Callable[[], Awaitable[T]],
    *,
    provisional: Callable[[], T] | None = None,
    wait: float | None = None,
) -> Outcome[T]:
    """Append the events; once every view reflects them, `read` the answer, else say where they are durable.

    `provisional` builds the answer from what the service knew before appending, for a write the
    views have not reflected within the wait (`wait` seconds; the writer's own by default).
    """
    written, judged = await writer.append_and_wait(events, wait)
    while judged is not None and written.positions:
        try:
            value = await read()
        except NotFound:
            if not await writer.switched_since(judged):
                raise  # what the events name is gone since: a true 404
        else:
            if not await writer.switched_since(judged):
                return Projected(value, written)
        # A blue/green switch put versions in front of the reads that the wait did not judge, and the
        # read may have found them behind (nothing, or an older value): wait for them too (on
        # checkpoints read now, which judge them), read again.
        judged = await writer.wait_for(written, wait, fresh=True)
    if judged is not None:  # nothing appended, nothing to wait for
        return Projected(await read(), written)
    return Pending(written, provisional() if provisional is not None else None)


async def nothing() -> None:
    """The read after a write whose answer carries no document (a deletion)."""
