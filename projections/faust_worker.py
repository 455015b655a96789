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
message and go on, which would skip events for good. Here a failing batch is
retried with backoff, view by view. When the failure is its events' fault
(projections/dead_letters.py), the attempt after the last retry parks those
events and their keys' later ones, and the view goes on. Any other failure
that outlasts the retries stops the worker process at once (exit code 70),
before Faust can acknowledge or commit the batch.

Faust acknowledges a batch when its agent returns, so the agent holds its batch
while one of its views retries: the other views of the same topics wait for it
(views of other topics, in other agents, go on). The kafka engine and the
embedded runtime let every other view go on.

This is `tribe worker --engine faust`. The default engine is projections/kafka_engine.py;
docs/kafka.md lists the guarantees this one lacks (a stop during a store write can commit
offsets past the store, a partition that moves keeps its old owner writing for a moment, and a
view that retries holds up the other views of its topics).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import faust
import structlog

from events.log import Entry, Position
from projections.dead_letters import is_poison
from projections.failures import Retry, die
from projections.faust_transport import app_with_fetch_wait
from projections.feeder import FeedResult, ViewFeeder
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
    retries: int = 4
    backoff: float = 0.5
    commit_interval: float = 1.0
    tick_interval: float = 1.0  # how often the feeders re-read their parked keys and report their status


def entry_of(event: faust.types.EventT[Any]) -> Entry:
    message = event.message
    return Entry(Position(message.topic, message.partition, message.offset), message.key or b"", message.value or b"")


async def feed_with_retries(
    feeder: ViewFeeder,
    entries: Sequence[Entry],
    options: WorkerOptions,
    on_fatal: Callable[[str, BaseException], NoReturn],
) -> FeedResult:
    """Feed a batch to one view, retrying with backoff; park the events at fault, or stop, when retries run out."""
    retry = Retry(options.retries, options.backoff)
    while True:
        async with feeder.turn:  # the agent of the view's other topic waits, and so it never feeds a reset view
            try:
                result = await feeder.feed(entries, isolating=feeder.guard.isolating)
            except Exception as exc:
                delay = await feeder.failed(exc, retry)  # the next attempt starts from the store's checkpoint
                failure = exc
            else:
                await feeder.recovered()
                if result.parked:
                    await feeder.report()
                return result
        if feeder.guard.attempts > options.retries and not is_poison(failure):
            on_fatal(feeder.view.name, failure)
        await asyncio.sleep(delay)


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
                # message, dropped once every view has stored the batch, keeps Faust from committing the
                # offsets of a batch it stopped in (its acknowledgement then leaves one reference).
                for event in batch:
                    event.message.incref()
                entries = [entry_of(e) for e in batch]
                for feeder in feeders:
                    started = time.perf_counter()
                    result = await feed_with_retries(feeder, entries, options, on_fatal)
                    seconds = time.perf_counter() - started
                    metrics.batch(feeder.view.name, applied=result.processed, parked=result.parked, seconds=seconds)
                    log.info(
                        "projected",
                        view=feeder.view.name,
                        topic=topic,
                        delivered=len(entries),
                        processed=result.processed,
                        redelivered=result.redelivered,
                        filled=result.filled,
                        writes=result.writes,
                        partitions=len(result.partitions),
                        ms=round(seconds * 1000, 2),
                    )
                for event in batch:
                    event.message.decref()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # anything outside the retried batch is a bug: stop, don't skip
            on_fatal(topic, exc)

    project.__name__ = f"project_{topic.replace('.', '_')}"
    return project


def _counting(metrics: ProjectionMetrics, change: str) -> Callable[..., None]:
    """A receiver of Faust's rebalance signals (sent with the app and the set of partitions) that counts them."""

    def count(_: Any, *partitions: Any, **__: Any) -> None:
        metrics.rebalanced(change, len(partitions[0]) if partitions else 0)

    return count


def create_app(
    brokers: str,
    feeders: Sequence[ViewFeeder],
    *,
    datadir: Path,
    options: WorkerOptions,
    on_fatal: Callable[[str, BaseException], NoReturn] = die,
    metrics: ProjectionMetrics | None = None,
) -> faust.App:
    """A Faust app with one agent per view. `brokers` is librdkafka style: HOST:PORT[,HOST:PORT]."""
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

    async def tick() -> None:
        # Parked keys re-read (released ones replayed) and statuses reported; no catching up here: the
        # agents hold their batches while a view retries, and a tick must not feed beside them.
        for feeder in feeders:
            await feeder.tick(catch_up=False)

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
