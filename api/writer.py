"""The write side: events to records, appended all-or-nothing, then (bounded) read-your-writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from api.errors import ApiError
from events.catalogue import Event
from events.codec import EventCodec
from events.log import Log, LogUnavailable, Position, Record
from events.routing import ROUTES, partition_for
from projections.progress import Progress


@dataclass(frozen=True, slots=True)
class Written:
    positions: list[Position]
    visible: bool

    def token(self) -> str:
        return ",".join(p.token() for p in self.positions)


class EventWriter:
    def __init__(self, log: Log, codec: EventCodec, progress: Progress, wait_seconds: float) -> None:
        self.log = log
        self.codec = codec
        self.progress = progress
        self.wait_seconds = wait_seconds

    def records(self, events: Sequence[Event]) -> list[Record]:
        """Encode every event first, so a bad one stops the batch before anything is appended."""
        records = []
        for event in events:
            route = ROUTES[event.type]
            key = route.key(event)
            records.append(
                Record(route.topic, partition_for(route.topic, key), key.encode(), self.codec.encode(event), event.event_id)
            )
        return records

    async def append(self, events: Sequence[Event]) -> list[Position]:
        records = self.records(events)
        try:
            return await self.log.append(records)
        except LogUnavailable as exc:
            raise ApiError(
                503,
                "log",
                f"unavailable, the events were not acknowledged ({exc}); retry them with the same event ids",
                {"Retry-After": str(max(1, round(exc.retry_after)))},
            ) from None

    async def write(self, events: Sequence[Event]) -> Written:
        """Append, then wait (bounded) until the projections reflect the events."""
        positions = await self.append(events)
        visible = await self.progress.wait(positions, self.wait_seconds)
        return Written(positions, visible)
