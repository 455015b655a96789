"""What a write service returns: the read model after the write, or where the write is durable.

No exception carries a success: a write whose projections have not caught up within the
wait is a `Pending`, which the edge answers as it can (202 with the positions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from events.catalogue import Event
from events.log import Position

if TYPE_CHECKING:
    from services.writer import EventWriter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written:
    """Where the events of one write are durable, in the order they were given."""

    positions: tuple[Position, ...]

    def token(self) -> str:
        """The positions as the X-Tribe-Position header carries them (read-your-writes)."""
        return ",".join(p.token() for p in self.positions)


@dataclass(frozen=True, slots=True)
class Projected(Generic[T]):
    """The write is reflected by every view it feeds; `value` is read from them."""

    value: T
    written: Written


@dataclass(frozen=True, slots=True)
class Pending:
    """The write is durable at `written`, but not projected within the wait."""

    written: Written


Outcome = Projected[T] | Pending


async def settle(writer: EventWriter, events: Sequence[Event], read: Callable[[], Awaitable[T]]) -> Outcome[T]:
    """Append the events; once every view reflects them, `read` the answer, else say where they are durable."""
    written, reflected = await writer.append_and_wait(events)
    if not reflected:
        return Pending(written)
    return Projected(await read(), written)


async def nothing() -> None:
    """The read after a write whose answer carries no document (a deletion)."""
