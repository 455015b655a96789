"""The Faust workers: every view in projections.views, unchanged, fed from Kafka.

Agents only. Each topic gets one agent; it takes raw bytes in batches, turns
each message into an `events.log.Entry` (topic, partition, offset, key,
value) and hands the batch to the `ViewFeeder` of every view that reads the
topic, which writes through the one write path, `Projector.process` (one
Projector per view, for its live version). There are no
Faust tables: documents and checkpoints live in the store (docs/kafka.md says
why), so any number of workers can share the partitions and a restarted one
resumes from the store, not from Faust's state.

Faust's default on an exception in an agent is to log it, acknowledge the
message and go on, which would skip events for good. Here each view is offered
the batch through its feeder (`ViewFeeder.offer`), as in the other runtimes: a
view whose write fails counts the failure and sits out its backoff while the
agent feeds the other views and acknowledges the batch; when the view resumes
it reads what it missed from the log, from its checkpoint in the store, and a
tick catches it up if nothing more arrives. After the retries of a failure that
is its events' fault, those events and their keys' later ones are parked
(projections/dead_letters.py); any other failure is retried for as long as it
lasts, reported as `retrying`.

Faust commits what its agents acknowledged, so the group's offsets can pass what
a failing view has stored. The store decides all the same: on every assignment,
each view is owed the partitions up to the offsets the consumer starts them from
(`ViewFeeder.owe`), and the tick reads from the log what lies between its
checkpoint and them. A partition revoked is written no more once the revoke
returns, which Faust awaits before the partition moves (`Ownership`).

This is `tribe worker --engine faust`. The default engine is projections/kafka_engine.py;
docs/kafka.md compares the two.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import faust
import structlog

from events.log import Entry, Log, Position
from projections.failures import die
from projections.faust_transport import app_with_fetch_wait
from projections.feeder import TP, ViewFeeder, log_batch
from projections.metrics import ProjectionMetrics

log = structlog.get_logger("faust_worker")

STALL_AFTER = 15.0
"""Seconds a partition's consumer may hand nothing over while the log holds more (`Ownership.owe_stalled`):
several of the longest fetch waits (`TRIBE_KAFKA_FETCH_WAIT`, 1.5 s by default)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """Faust app settings. A consumer group is `app_id`: workers with the same id share the partitions.

    The first three come from `Settings` (tribe/bootstrap.py builds them); the rest are tuning.
    """

    app_id: str
    session_timeout: float
    fetch_wait: float
    batch_size: int = 1000
    within: float = 0.1
    commit_interval: float = 1.0
    tick_interval: float = 1.0  # how often the views are owed what was assigned, re-read parked keys and catch up


def entry_of(event: faust.types.EventT[Any]) -> Entry:
    message = event.message
    return Entry(Position(message.topic, message.partition, message.offset), message.key or b"", message.value or b"")


async def offer(
    feeder: ViewFeeder, topic: str, entries: Sequence[Entry], ownership: Ownership, metrics: ProjectionMetrics
) -> None:
    """Feed a batch to one view and wait for its write. A failure stays the view's: its feeder counts it.

    Under the view's turn, so that a revoke either waits for this write or is seen by it (`Ownership`).
    """
    async with feeder.turn:  # the agent of the view's other topic and the tick wait: one feeds a view at a time
        started = time.perf_counter()
        mine = ownership.mine(entries)
        result = await feeder.offer(mine)
        await feeder.settle()
        seconds = time.perf_counter() - started
    log_batch(metrics, feeder, result, len(mine), seconds, topic=topic)


def _agent(
    topic: str,
    feeders: Sequence[ViewFeeder],
    ownership: Ownership,
    options: WorkerOptions,
    on_fatal: Callable[[str, BaseException], NoReturn],
    metrics: ProjectionMetrics,
) -> Callable[[faust.StreamT[Any]], Awaitable[None]]:
    """The agent of one topic: each batch goes to every view that reads the topic, then is acknowledged."""

    async def project(stream: faust.StreamT[Any]) -> None:
        try:
            # StreamT does not declare take_events; the Stream that Faust hands an agent has it.
            take: Callable[[int, float], AsyncIterable[Sequence[faust.types.EventT[Any]]]] = stream.take_events  # type: ignore[attr-defined]
            events = take(options.batch_size, options.within)
            async for batch in events:
                # take_events acknowledges the batch when the loop moves on, and also when the agent is
                # cancelled in the middle of it (a SIGTERM during a store write): one more reference per
                # message, dropped once every view has been offered the batch, keeps Faust from committing
                # the offsets of a batch it stopped in (its acknowledgement then leaves one reference).
                for event in batch:
                    event.message.incref()
                entries = [entry_of(e) for e in batch]
                for feeder in feeders:
                    await offer(feeder, topic, entries, ownership, metrics)
                for event in batch:
                    event.message.decref()
        except Exception as exc:  # the feeders never raise: anything here is a bug: stop, don't skip
            on_fatal(topic, exc)

    project.__name__ = f"project_{topic.replace('.', '_')}"
    return project


def _tps(partitions: Iterable[Any]) -> set[TP]:
    """Faust's TopicPartitions as (topic, partition)."""
    return {(tp.topic, tp.partition) for tp in partitions}


class Ownership:
    """The partitions this worker's views may write, as Faust's rebalance signals tell it (and counts them).

    - **Revoked.** Faust awaits `revoked` before the worker leaves the group, so its partitions move
      only once it returns. It marks them leaving, then takes each view's turn: a batch being fed, its
      write included, ends first, and every later one leaves their entries out (`mine`, under the
      turn). A batch Faust still held for them is not written by this worker after the new owner
      starts; the new owner starts where its group committed and, if that passes what a view
      stored, is owed the rest (below).
    - **Assigned.** Faust starts an assigned partition at the group's committed offset, which a
      view that was failing may not have reached. `owe`, on the next tick, owes each view the
      partitions assigned up to those offsets, and the tick reads the difference from the log.
    - **Stalled.** Faust's consumer can stop handing over a partition's events for good while the
      log grows (faust-streaming issue 175, open). `owe_stalled`, on every tick, owes each view
      what the log holds of a partition the consumer has handed nothing of for `stall_after`
      seconds, and the tick reads it from the log, as the kafka engine reads what it missed.
    """

    def __init__(
        self,
        log: Log,
        group: str,
        feeders: Sequence[ViewFeeder],
        metrics: ProjectionMetrics | None = None,
        *,
        stall_after: float = STALL_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.group, self.feeders = log, group, feeders
        self.metrics = metrics or ProjectionMetrics()
        self.stall_after, self.clock = stall_after, clock
        self.leaving: set[TP] = set()
        self.unowed: set[TP] = set()
        self.owned: set[TP] = set()  # assigned and not revoked since
        self._handed: dict[TP, tuple[int, float]] = {}  # how far the views were handed each partition, and since when

    def held(self) -> frozenset[TP]:
        """The partitions this worker holds now: whose fan-out, erasure and moderation it runs (tribe/bootstrap.py)."""
        return frozenset(self.owned)

    def mine(self, entries: Sequence[Entry]) -> Sequence[Entry]:
        leaving = self.leaving
        if not leaving:
            return entries
        return [e for e in entries if (e.position.topic, e.position.partition) not in leaving]

    async def revoked(self, _: Any, /, *partitions: Any, **__: Any) -> None:
        """Faust's `on_partitions_revoked` (sent with the app and the set of partitions)."""
        tps = _tps(partitions[0])
        self.leaving |= tps
        self.unowed -= tps
        self.owned -= tps
        for tp in tps:
            self._handed.pop(tp, None)  # assigned back, a partition is given its stall_after again
        for feeder in self.feeders:
            async with feeder.turn:
                feeder.forget(sorted(tps))
        self.metrics.rebalanced("revoked", len(tps))
        log.info("partitions_revoked", partitions=len(tps))

    def assigned(self, _: Any, /, *partitions: Any, **__: Any) -> None:
        """Faust's `on_partitions_assigned` (sent with the app and the set of partitions)."""
        tps = _tps(partitions[0])
        self.leaving -= tps
        self.unowed |= tps
        self.owned |= tps
        self.metrics.rebalanced("assigned", len(tps))
        log.info("partitions_assigned", partitions=len(tps))

    async def owe(self) -> None:
        """Owe each view the partitions assigned since the last call, up to the group's committed offsets."""
        if not self.unowed:
            return
        tps, self.unowed = self.unowed, set()
        try:
            committed = await self.log.committed(self.group)
        except Exception:
            self.unowed |= tps  # the next tick asks again
            raise
        for feeder in self.feeders:
            async with feeder.turn:
                feeder.owe({tp: committed.get(tp, 0) for tp in tps if tp not in self.leaving})

    async def owe_stalled(self) -> dict[TP, int]:
        """Owe each view the log's end of the partitions the consumer has handed nothing of for `stall_after`
        seconds while the log holds more; those partitions and their ends.

        A partition's progress is the furthest any view was handed (or owed) of it, so a view that
        sits out a backoff or is fenced does not make it look stalled. The log is asked at most
        once per `stall_after` of quiet, so an idle topic costs one ask of its ends that often.
        """
        now = self.clock()
        quiet: dict[TP, int] = {}
        for tp in sorted(self.owned):  # never leaving: a revoke takes a partition out of `owned`
            handed = max((h for f in self.feeders if (h := f.handed(tp)) is not None), default=None)
            if handed is None:
                continue  # not yet owed its assignment (`owe`, on the tick)
            seen = self._handed.get(tp)
            if seen is None or seen[0] != handed:
                self._handed[tp] = (handed, now)
            elif now - seen[1] >= self.stall_after:
                quiet[tp] = handed
                self._handed[tp] = (handed, now)
        if not quiet:
            return {}
        ends = await self.log.end_offsets(sorted(quiet))
        stalled = {tp: end for tp, end in ends.items() if end > quiet[tp]}
        if stalled:
            behind = sum(end - quiet[tp] for tp, end in stalled.items())
            log.warning("consumer_stalled", partitions=len(stalled), behind=behind, seconds=self.stall_after)
            self.metrics.stalled(len(stalled))
            for feeder in self.feeders:
                async with feeder.turn:
                    feeder.owe({tp: end for tp, end in stalled.items() if tp not in self.leaving})
        return stalled


def create_app(
    brokers: str,
    ownership: Ownership,
    *,
    datadir: Path,
    options: WorkerOptions,
    on_fatal: Callable[[str, BaseException], NoReturn] = die,
) -> faust.App:
    """A Faust app with one agent per topic, feeding the views of `ownership`'s feeders as its signals allow.

    `brokers` is librdkafka style: HOST:PORT[,HOST:PORT]. The caller builds the `Ownership`, so
    that what else the worker runs per partition reads the same record of what it holds.
    """
    feeders, metrics = ownership.feeders, ownership.metrics
    app = app_with_fetch_wait(
        options.fetch_wait,
        options.app_id,
        broker=[f"kafka://{server}" for server in brokers.split(",")],
        autodiscover=False,
        datadir=str(datadir),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,  # several workers per host; no Faust web views
        topic_disable_leader=True,  # no leader topic: nothing here needs a leader
        topic_allow_declare=False,  # the log's topics are created by KafkaLog, with explicit configs
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=options.session_timeout,
        broker_heartbeat_interval=max(options.session_timeout / 5, 0.5),
        broker_max_poll_interval=max(options.session_timeout * 2, 10.0),
        broker_rebalance_timeout=max(options.session_timeout * 2, 10.0),
        broker_commit_interval=options.commit_interval,
        # On a rebalance Faust would wait for every buffered message to be acknowledged, and with
        # several agents on one topic that wait can hang for good. Nothing needs it: what was not
        # acknowledged is redelivered, and the feeder skips what the store already has.
        stream_wait_empty=False,
    )

    async def prepare() -> None:
        # Before any batch: every view is installed, also those whose topics are still empty.
        for feeder in feeders:
            try:
                await feeder.prepare()
            except Exception as exc:
                on_fatal(feeder.view.name, exc)
        log.info("worker_ready", group=options.app_id, views=[f.view.name for f in feeders])

    app.task(prepare, on_leader=False)

    app.on_partitions_revoked.connect(ownership.revoked)
    app.on_partitions_assigned.connect(ownership.assigned)

    async def tick() -> None:
        try:
            await ownership.owe()
            await ownership.owe_stalled()
        except Exception as exc:  # the group's offsets or the log's ends cannot be read now: the next tick asks again
            log.warning("assignment_not_owed", error=repr(exc))
        for feeder in feeders:
            async with feeder.turn:
                await feeder.tick()
                await feeder.settle()  # what the tick caught up is stored before an agent feeds the view

    app.timer(options.tick_interval, on_leader=False)(tick)
    # One agent per topic, feeding every view that reads it: Faust's fan-out of one topic to several
    # agents stalls under load (the agents' take buffers and the shared acknowledgements wait on each other).
    readers: dict[str, list[ViewFeeder]] = {}
    for feeder in feeders:
        for topic in feeder.view.topics:
            readers.setdefault(topic, []).append(feeder)
    for topic, topic_feeders in readers.items():
        channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
        app.agent(channel, name=f"project-{topic}")(
            _agent(topic, topic_feeders, ownership, options, on_fatal, metrics)
        )
    return app
