"""Runs the fan-out (services/fanout.py) over the log, on every runtime.

The runner reads `tribe.articles`, `tribe.follows` and `tribe.tribes` from its own checkpoint
in the store (`fanout`), asks the fan-out what each event calls for, appends that, and only
then stores the checkpoint: a crash in between decides those events again, which appends
nothing new (the fan-out's event ids derive from the events they react to). Before deciding
on a batch it waits, up to `wait` seconds, until the views it consults reflect the heads of
their topics as they stand now (services/fanout.py says why).

Who runs it: the embedded runtime's process for every partition; on Kafka each worker for the
partitions its consumer is assigned (so the group splits the work as it splits the views'),
and the Faust worker on the group's leader. During a rebalance two workers may decide one
partition's events: they append the same events, which the timelines reducer files once.

The same runner runs the classifier (services/classifier.py `Judge`) over `tribe.articles` from
a checkpoint of its own (`moderation`), in the same processes: any policy that says for which
events it consults the views (`reacts_to`) and which events an event calls for (`react`), with
ids derived from the event, runs here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

import structlog

from events.catalogue import Event
from events.codec import EventCodec
from events.log import Log, Position, until_appended
from events.routing import ARTICLES, FOLLOWS, TRIBES
from events.routing import partitions as partitions_of
from projections.failures import failed_pass
from projections.progress import Progress
from projections.store import Checkpoint, Store
from services.writer import append_decisions

log = structlog.get_logger("fanout")

CHECKPOINT = "fanout"
TOPICS = (ARTICLES, FOLLOWS, TRIBES)
TP = tuple[str, int]


class Policy(Protocol):
    """What the runner runs: the fan-out (services/fanout.py) or the classifier (services/classifier.py)."""

    def reacts_to(self, event: Event) -> bool:
        """Whether the policy may consult the views for this event (the runner lets them catch up first)."""
        ...

    async def react(self, event: Event) -> list[Event]:
        """The events to append for one event of the log, with ids derived from it."""
        ...


def fanout_partitions(topics: Sequence[str] = TOPICS) -> list[TP]:
    return [(topic, p) for topic in topics for p in range(partitions_of(topic))]


class FanOutRunner:
    def __init__(
        self,
        log: Log,
        store: Store,
        codec: EventCodec,
        fanout: Policy,
        progress: Progress,
        *,
        owned: Callable[[], Collection[TP]] | None = None,
        batch_size: int = 500,
        idle: float = 0.05,
        wakeup: asyncio.Event | None = None,
        wait: float = 5.0,
        checkpoint: str = CHECKPOINT,
        topics: Sequence[str] = TOPICS,
    ) -> None:
        self.log = log
        self.store = store
        self.codec = codec
        self.fanout = fanout
        self.progress = progress
        self.owned = owned
        self.batch_size = batch_size
        self.idle = idle
        self.wakeup = wakeup
        self.wait = wait
        self.checkpoint = checkpoint
        self.topics = tuple(topics)

    async def run_once(self) -> int:
        """Decide on what the owned partitions hold beyond the checkpoint (one batch); return the events read."""
        every = fanout_partitions(self.topics)
        owned = None if self.owned is None else set(self.owned())
        mine = every if owned is None else [tp for tp in every if tp in owned]
        if not mine:
            return 0
        stored = await self.store.checkpoint(self.checkpoint)
        heads = await self.log.end_offsets(every)
        starts = {tp: stored.get(tp, 0) for tp in mine if heads.get(tp, 0) > stored.get(tp, 0)}
        if not starts:
            return 0
        started = time.perf_counter()
        read = await self.log.read_many(starts, self.batch_size)
        events = [entry for entries in read.values() for entry in entries]
        await self.codec.prepare_to_decode(entry.value for entry in events)
        decoded: list[Event] = []
        for entry in events:
            try:
                decoded.append(self.codec.decode(entry.value))
            except Exception as exc:  # the views park such bytes (projections/dead_letters.py); nothing to decide
                log.warning(f"{self.checkpoint}_undecodable", position=entry.position.token(), error=repr(exc))
        fresh = True
        if any(self.fanout.reacts_to(event) for event in decoded):
            # Only a batch with something to decide waits: the fan-out's own deliveries come back to it.
            consulted = [Position(t, p, head - 1) for (t, p), head in heads.items() if head > 0]
            fresh = await self.progress.wait(consulted, self.wait)
        decided = [out for event in decoded for out in await self.fanout.react(event)]
        # Deciding again after a crash may see other followers than the first decision did: the first
        # delivery stands (append_decisions), and the read path's follow checks and recent-follow pull
        # cover the difference.
        appended = len(await append_decisions(self.log, self.codec, decided))
        offsets = {tp: entries[-1].position.offset + 1 for tp, entries in read.items() if entries}
        await self.store.write([], Checkpoint(self.checkpoint, offsets))
        log.info(
            f"{self.checkpoint}_batch",
            events=len(events),
            appended=appended,
            undecodable=len(events) - len(decoded),
            fresh_reads=fresh,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return len(events)

    async def run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except Exception as exc:  # the log or the store: the checkpoint says where to start again
                failed_pass(log, self.checkpoint, exc)
                await asyncio.sleep(1)
                continue
            if not done:
                await until_appended(self.wakeup, self.idle, pace=self.idle)
