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
checkpoint and them.

This is `tribe worker --engine faust`. The default engine is projections/kafka_engine.py;
docs/kafka.md lists the guarantee this one lacks (a partition that moves keeps its old owner
writing for a moment).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
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
    tick_interval: float = 1.0  # how often the feeders follow the assignment, re-read parked keys and catch up


def entry_of(event: faust.types.EventT[Any]) -> Entry:
    message = event.message
    return Entry(Position(message.topic, message.partition, message.offset), message.key or b"", message.value or b"")


async def offer(feeder: ViewFeeder, topic: str, entries: Sequence[Entry], metrics: ProjectionMetrics) -> None:
    """Feed a batch to one view and wait for its write. A failure stays the view's: its feeder counts it."""
    async with feeder.turn:  # the agent of the view's other topic and the tick wait: one feeds a view at a time
        started = time.perf_counter()
        result = await feeder.offer(entries)
        await feeder.settle()
        seconds = time.perf_counter() - started
    log_batch(metrics, feeder.view.name, result, len(entries), seconds, topic=topic)


def _agent(
    topic: str,
    feeders: Sequence[ViewFeeder],
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
                    await offer(feeder, topic, entries, metrics)
                for event in batch:
                    event.message.decref()
        except Exception as exc:  # the feeders never raise: anything here is a bug: stop, don't skip
            on_fatal(topic, exc)

    project.__name__ = f"project_{topic.replace('.', '_')}"
    return project


class Assignment:
    """What the consumer was last seen to own, so that each view is owed the partitions it is newly given."""

    def __init__(self, app: faust.App, log: Log, group: str, feeders: Sequence[ViewFeeder]) -> None:
        self.app, self.log, self.group, self.feeders = app, log, group, feeders
        self.owned: set[TP] = set()

    async def follow(self) -> None:
        """Partitions revoked are forgotten; those assigned are owed up to the group's committed offsets.

        Faust starts an assigned partition at the group's committed offset, which a view that was
        failing may not have reached: the tick that follows reads the difference from the log.
        """
        now = {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}
        new, gone = now - self.owned, sorted(self.owned - now)
        if not new and not gone:
            return
        committed = await self.log.committed(self.group) if new else {}
        starts = {tp: committed.get(tp, 0) for tp in new}
        for feeder in self.feeders:
            async with feeder.turn:
                feeder.forget(gone)
                feeder.owe(starts)
        self.owned = now
        log.info("assignment_followed", assigned=len(new), revoked=len(gone))


def _counting(metrics: ProjectionMetrics, change: str) -> Callable[..., None]:
    """A receiver of Faust's rebalance signals (sent with the app and the set of partitions) that counts them."""

    def count(_: Any, *partitions: Any, **__: Any) -> None:
        metrics.rebalanced(change, len(partitions[0]) if partitions else 0)

    return count


def create_app(
    brokers: str,
    feeders: Sequence[ViewFeeder],
    event_log: Log,
    *,
    datadir: Path,
    options: WorkerOptions,
    on_fatal: Callable[[str, BaseException], NoReturn] = die,
    metrics: ProjectionMetrics | None = None,
) -> faust.App:
    """A Faust app with one agent per topic. `brokers` is librdkafka style: HOST:PORT[,HOST:PORT].

    `event_log` is the log the feeders read what they missed from: the group's committed offsets come from it.
    """
    metrics = metrics or ProjectionMetrics()
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

    assignment = Assignment(app, event_log, options.app_id, feeders)

    async def tick() -> None:
        try:
            await assignment.follow()
        except Exception as exc:  # the group's offsets cannot be read now: the next tick asks again
            log.warning("assignment_not_followed", error=repr(exc))
        for feeder in feeders:
            async with feeder.turn:
                await feeder.tick()
                await feeder.settle()  # what the tick caught up is stored before an agent feeds the view

    app.timer(options.tick_interval, on_leader=False)(tick)
    app.on_partitions_assigned.connect(_counting(metrics, "assigned"))
    app.on_partitions_revoked.connect(_counting(metrics, "revoked"))
    # One agent per topic, feeding every view that reads it: Faust's fan-out of one topic to several
    # agents stalls under load (the agents' take buffers and the shared acknowledgements wait on each other).
    readers: dict[str, list[ViewFeeder]] = {}
    for feeder in feeders:
        for topic in feeder.view.topics:
            readers.setdefault(topic, []).append(feeder)
    for topic, topic_feeders in readers.items():
        channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
        app.agent(channel, name=f"project-{topic}")(_agent(topic, topic_feeders, options, on_fatal, metrics))
    return app
