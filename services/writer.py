"""The write side: events to records, appended all-or-nothing, then (bounded) read-your-writes."""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import time
from collections.abc import Callable, Collection, Sequence
from typing import TypedDict

import orjson

from events.catalogue import Event
from events.codec import EventCodec
from events.ids import IdBlocks, new_event_id
from events.keys import KeyDestroyed, KeyStoreUnavailable
from events.log import EventIdConflict, Log, LogUnavailable, Position, Record
from events.routing import DEFAULT_PARTITIONS, ROUTES, partition_for, partitions
from projections.progress import Progress
from services.errors import BadQuery, Conflict, Unauthenticated, Unavailable
from services.metrics import WriteMetrics
from services.outcome import Written


def now_ms() -> int:
    return int(time.time() * 1000)


class Envelope(TypedDict):
    event_id: str
    actor_id: str
    occurred_at: int


def envelope(actor_id: str) -> Envelope:
    """The envelope of an event `actor_id` causes now: a fresh id, the actor, the server's time."""
    return {"event_id": new_event_id(), "actor_id": actor_id, "occurred_at": now_ms()}


_ENVELOPE = frozenset({"event_id", "actor_id", "occurred_at"})
_PAYLOADS: dict[type[Event], Callable[[Event], object]] = {}


def digest_of(event: Event) -> str:
    """A fingerprint of what an event says (its type and payload), not of who sent it or when.

    A client's retry of an event carries the same one; another event under the same id does not.
    """
    cls = type(event)
    payload = _PAYLOADS.get(cls)
    if payload is None:
        names = [f.name for f in dataclasses.fields(cls) if f.name not in _ENVELOPE]
        payload = _PAYLOADS[cls] = operator.attrgetter(*names) if names else lambda _: None
    return hashlib.blake2b(orjson.dumps((cls.__name__, payload(event))), digest_size=8).hexdigest()


def record_for(event: Event, value: bytes) -> Record:
    """The record of an event encoded as `value`, in the partition its route gives it."""
    route = ROUTES[event.type]
    key = route.key(event)
    partition = partition_for(route.topic, key)
    return Record(route.topic, partition, key.encode(), value, event.event_id, event.actor_id, digest_of(event))


def records_of(events: Sequence[Event], codec: EventCodec) -> list[Record]:
    """Encode every event first, so a bad one stops the batch before anything is appended.

    The codec must hold the keys of the events' actors (`EventCodec.prepare`).
    """
    return [record_for(event, codec.encode(event)) for event in events]


async def append_decisions(log: Log, codec: EventCodec, events: Sequence[Event]) -> list[Position]:
    """Append what a policy decided (the fan-out, the classifier, an erasure); the positions of what was appended.

    A decision's id derives from the event it reacts to, so deciding again (after a crash, or in two
    workers during a rebalance) names the same ids. The log returns the position a repeat already has,
    and refuses one it holds with another payload (EventIdConflict: deciding again saw other readers,
    say): that one is dropped, as the first decision stands, and the rest appended. The log appends
    nothing of a batch it refuses, so each attempt is all or nothing.
    """
    pending = list(events)
    while pending:
        try:
            return await log.append(records_of(pending, codec))
        except EventIdConflict as exc:
            del pending[exc.index]
    return []


class EventWriter:
    def __init__(
        self,
        log: Log,
        codec: EventCodec,
        progress: Progress,
        wait_seconds: float,
        metrics: WriteMetrics | None = None,
    ) -> None:
        self.log = log
        self.codec = codec
        self.progress = progress
        self.wait_seconds = wait_seconds
        self.metrics = metrics or WriteMetrics()
        self._ids = IdBlocks(log.claim_id_block)
        # Per partition, one past the highest offset this writer's appends were acknowledged at:
        # positions below it are written, so a reader waiting for them needs no broker round trip.
        self._written: dict[tuple[str, int], int] = {}

    async def append(self, events: Sequence[Event]) -> Written:
        """Append the events; where they are durable.

        Unavailable when the log did not acknowledge them all: nothing was appended, or, on a log
        that acknowledges events one by one (Kafka), `durable` says which were. Conflict when an
        event's id names another event of its actor.
        """
        try:
            await self.codec.prepare(events)
        except KeyStoreUnavailable as exc:
            raise Unavailable("keys", f"the key store is unavailable ({exc}); retry", 1.0) from None
        try:
            records = records_of(events, self.codec)
        except KeyDestroyed:  # a request that began before its user's erasure and ended after it
            raise Unauthenticated("belongs to an erased account") from None
        try:
            written = Written(tuple(await self.log.append(records)))
        except EventIdConflict as exc:
            raise Conflict(
                f"events[{exc.index}].event_id", "names an event you sent before, which said something else"
            ) from None
        except LogUnavailable as exc:
            if exc.durable:
                self.metrics.appended_to(r.topic for r, p in zip(records, exc.durable) if p is not None)
                acknowledged = sum(p is not None for p in exc.durable)
                raise Unavailable(
                    "log",
                    f"unavailable ({exc}): {acknowledged} of {len(events)} events were acknowledged, as listed; "
                    "retry the others with the same event ids",
                    exc.retry_after,
                    tuple((e.event_id, p) for e, p in zip(events, exc.durable, strict=True)),
                ) from None
            raise Unavailable(
                "log",
                f"unavailable, the events were not acknowledged ({exc}); retry them with the same event ids",
                exc.retry_after,
            ) from None
        self.metrics.appended_to(r.topic for r in records)
        self._wrote(written.positions)
        return written

    def _wrote(self, positions: Sequence[Position]) -> None:
        heads = self._written
        for p in positions:
            tp = (p.topic, p.partition)
            if heads.get(tp, 0) <= p.offset:
                heads[tp] = p.offset + 1

    async def numeric_id(self) -> int:
        """A numeric id no other one shares, in any process (events/ids.py IdBlocks); JavaScript-safe."""
        try:
            return await self._ids.next_id()
        except LogUnavailable as exc:
            raise Unavailable("log", f"unavailable, cannot hand out an id ({exc})", exc.retry_after) from None

    async def append_and_wait(
        self, events: Sequence[Event], wait: float | None = None
    ) -> tuple[Written, dict[str, str] | None]:
        """Append, then wait (`wait` seconds, the writer's own by default) until the projections reflect the events.

        Returns where the events are durable, and the view versions that reflect them (as `wait_for`).
        """
        written = await self.append(events)
        return written, await self.wait_for(written, wait)

    async def wait_for(
        self, written: Written, wait: float | None = None, *, fresh: bool = False
    ) -> dict[str, str] | None:
        """Wait (`wait` seconds, the writer's own by default) until the projections reflect a write.

        Returns the view versions found reflecting it (every alias and its target), or None if they
        did not within the wait: a read counts as reflecting the write only while reads still
        resolve to those versions (`switched_since`). `fresh` reads the checkpoints again first (as
        `Progress.wait`): a wait after a switch must judge the versions switched in.
        """
        timeout = self.wait_seconds if wait is None else wait
        if not await self._wait("write", written.positions, timeout, fresh=fresh):
            return None
        return self.progress.judged  # the round the wait ended on: nothing ran in between

    async def switched_since(self, judged: dict[str, str]) -> bool:
        """Whether reads now go to other view versions than these (a blue/green switch came in between)."""
        return await self.progress.live() != judged

    async def _wait(
        self,
        waiter: str,
        positions: Sequence[Position],
        timeout: float,
        views: Collection[str] | None = None,
        *,
        fresh: bool = False,
    ) -> bool:
        started = time.perf_counter()
        reflected = await self.progress.wait(positions, timeout, views, fresh=fresh)
        self.metrics.waited(waiter, time.perf_counter() - started, reflected)
        return reflected

    async def caught_up_with(self, topic: str, views: Collection[str]) -> bool:
        """Wait (bounded) until these views reflect `topic` as the log holds it now; whether they did in time.

        For a read that must see every write acknowledged before it, whoever asked for it and
        whatever positions the request names (an erasure reading the handles its user holds).
        """
        try:
            heads = await self.log.end_offsets([(topic, p) for p in range(partitions(topic))])
        except LogUnavailable as exc:
            raise Unavailable("log", f"unavailable, cannot tell how far it goes ({exc})", exc.retry_after) from None
        written = [Position(t, p, head - 1) for (t, p), head in heads.items() if head > 0]
        return await self._wait("read", written, self.wait_seconds, views)

    async def caught_up(self, positions: Sequence[Position]) -> None:
        """Wait (bounded) until the read models reflect positions a reader asked for; then read anyway.

        Only positions this log has written can be waited for: a partition that does not exist or
        an offset at or past the partition's head is refused (BadQuery), so no reader can hold a
        request for the whole wait by naming a position that will not come. The head is asked
        only when neither the last read of the checkpoints nor this writer's own acknowledged
        appends show the positions written (a client reading its own write, the common case,
        costs no round trip to the log).
        """
        for p in positions:
            known = p.topic in DEFAULT_PARTITIONS and 0 <= p.partition < partitions(p.topic)
            if not known or p.offset < 0:
                raise BadQuery("after", f"{p.token()} names no position of a partition this log has")
        if not positions or self.progress.covered(positions):
            return
        if any(p.offset >= self._written.get((p.topic, p.partition), 0) for p in positions):
            try:
                heads = await self.log.end_offsets(sorted({(p.topic, p.partition) for p in positions}))
            except LogUnavailable as exc:
                raise Unavailable("log", f"unavailable, cannot tell how far it goes ({exc})", exc.retry_after) from None
            for p in positions:
                if p.offset >= heads[(p.topic, p.partition)]:
                    raise BadQuery("after", f"{p.token()} is not a position this log has written")
        await self._wait("read", positions, self.wait_seconds)
