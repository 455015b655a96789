"""The Log port: an append-only, partitioned, durable log of encoded events.

Shaped after Kafka so that its adapter is thin: an append hands over a batch and
resolves only when every record is durable (for Kafka: when every delivery
report has come back without error), each with its position.

An event is named by its actor and its id together: clients choose their own event ids
(for safe retries), so two users may choose the same one, and each names their own event.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

WOKEN_POLL = 1.0
"""Seconds between the passes of an idle follower the log wakes on appends (`until_appended`), while it
has nothing to retry: a safety net, and the pace of what no append starts (the runtime's ticks).
Polling every 50 ms instead took several percent of a core from the process that also answers reads."""


class LogUnavailable(RuntimeError):
    """The log cannot take the append now (broker unreachable, queue full, a file it cannot write).

    `durable` is empty when no record of the batch was acknowledged. An adapter that can
    acknowledge part of a batch (Kafka: one delivery report per record) gives, when it did, one
    entry per record: its position if it was acknowledged, None if not (a record not acknowledged
    may still have been written; retried with its event id, it is not appended twice only where
    the adapter can tell).
    """

    def __init__(self, message: str, retry_after: float = 1.0, durable: tuple[Position | None, ...] = ()) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.durable = durable


class EventIdConflict(Exception):
    """The batch holds an event whose actor already has an event of that id in the log, with another payload.

    Nothing of the batch was appended. `index` is the record's place in the batch.
    """

    def __init__(self, index: int, event_id: str) -> None:
        super().__init__(f"record {index}: event id {event_id!r} names another event of its actor")
        self.index = index
        self.event_id = event_id


@dataclass(frozen=True, slots=True, order=True)
class Position:
    topic: str
    partition: int
    offset: int

    def token(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, token: str) -> Position:
        topic, partition, offset = token.rsplit(":", 2)
        return cls(topic, int(partition), int(offset))


@dataclass(frozen=True, slots=True)
class Record:
    """An encoded event on its way into the log.

    `actor_id` and `event_id` together name the event; `digest` is a fingerprint of what it says
    (its type and payload, not when it was accepted), which tells a retry of the event from
    another event under the same name.
    """

    topic: str
    partition: int
    key: bytes
    value: bytes
    event_id: str
    actor_id: str = ""
    digest: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """A record read back from the log, with where it sits."""

    position: Position
    key: bytes
    value: bytes


class Log(abc.ABC):
    @abc.abstractmethod
    async def append(self, records: Sequence[Record]) -> list[Position]:
        """Write the batch; return each record's position once all are durable, or raise LogUnavailable.

        Where the adapter can tell (the embedded log can, Kafka cannot), a record whose actor
        already has an event of its id in the log is not written again: with the same digest its
        existing position is returned, with another one the batch raises EventIdConflict and
        nothing of it is written. The same id from another actor is another event.
        """

    @abc.abstractmethod
    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Entry]:
        """Up to `limit` entries of one partition from `offset` on, in order."""

    async def read_many(self, starts: dict[tuple[str, int], int], limit: int) -> dict[tuple[str, int], list[Entry]]:
        """`read` of many partitions, each from its own offset; adapters that can answer in one trip override it."""
        return {
            (topic, partition): await self.read(topic, partition, offset, limit)
            for (topic, partition), offset in starts.items()
        }

    @abc.abstractmethod
    def follow(self, starts: dict[tuple[str, int], int]) -> AsyncIterator[list[Entry]]:
        """Every entry of these partitions from these offsets on, in batches as they are appended, until closed.

        Each partition's entries come in order and once. Meant for one follower per process that fans
        out to many (services/stream.py): the embedded log wakes it on every append, Kafka feeds it
        from one consumer assigned to every partition.
        """

    @abc.abstractmethod
    async def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record of this partition will get."""

    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """`end_offset` of many partitions; adapters that can answer in one trip override it."""
        return {(topic, partition): await self.end_offset(topic, partition) for topic, partition in partitions}

    @abc.abstractmethod
    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Store a consumer group's next offsets to read, per (topic, partition)."""

    @abc.abstractmethod
    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        """A consumer group's stored next offsets."""

    @abc.abstractmethod
    async def claim_id_block(self) -> int:
        """A positive number no other claim on this log, from any process, ever got or will get.

        It is the position of a record appended for the claim (in a partition of its own), so two
        claims cannot share it. events/ids.py builds ids that cannot collide from it.
        """

    async def close(self) -> None:
        """Release connections; the default has none."""


async def until_appended(
    wakeup: asyncio.Event | None, poll: float, pace: float = 0.0, longest: float | None = None
) -> None:
    """What a follower with nothing to do waits for: `wakeup` set (then cleared), or `longest` seconds
    (WOKEN_POLL unless the follower has something to retry sooner); without a wake-up, `poll` seconds.

    `wakeup` is set by the log after appends (the embedded log's `watch`, which sees other
    processes' appends too); None where the log cannot tell (Kafka), and the follower polls. An
    append that sets it after the follower's last read makes the wait return at once; one that
    lands between the wait's return and the clear is read by the pass that follows. `pace`: the
    least time between two passes when woken. The log wakes every follower on every append, to
    whatever topic: a follower of a few topics (the runners) paces itself, or a stream of appends
    it has nothing to do with would run it once per append.
    """
    if wakeup is None:
        await asyncio.sleep(poll)
        return
    if pace:
        await asyncio.sleep(pace)
    # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives just as the
    # wake-up fires, and the follower would then never stop. asyncio.wait lets it through.
    waiter = asyncio.ensure_future(wakeup.wait())
    try:
        await asyncio.wait({waiter}, timeout=WOKEN_POLL if longest is None else longest)
    finally:
        waiter.cancel()
    wakeup.clear()
