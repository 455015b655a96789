"""`tribe worker`'s default engine: batches straight from librdkafka into the one write path.

Every view in projections/views.py is fed, unchanged, through its `ViewFeeder` and `Projector`
(the same code the embedded runtime and replay run). What this module adds is the consumer
around them, built so that Kafka's offsets never run ahead of the store:

- **Two sides, one hand-off.** librdkafka calls block, so one thread owns the consumer: it
  calls `consume()`/`poll()`, and librdkafka runs the rebalance callbacks inside those calls, on
  that thread. The asyncio loop owns the store: folds and writes run there (the store's own
  writer thread does the I/O). The consumer thread hands a batch to the loop and waits for the
  answer, so nothing is folded while a rebalance callback runs and a callback never races a
  batch. The store write of batch k still overlaps the fold of batch k+1 (`Projector.submit`),
  and librdkafka's fetcher threads keep prefetching meanwhile.
- **Offsets follow the store.** `enable.auto.offset.store=false`: a batch's offsets are stored
  (and then committed by librdkafka's auto-commit, or synchronously on a revoke or a stop) only
  after the store write that covers them returned, for every view that reads its topic.
- **The store decides where to start.** On every assignment the engine reads each live
  version's checkpoint from the store and starts the partition at the lowest of them, whatever
  the group's committed offset says; views that are further on skip what they already hold
  (`redelivered`). An idle partition whose last events were never written is caught up at
  once, not when its next event arrives. Partition positions the feeders remember are
  forgotten on assign, revoke and loss.
- **Revocation.** Cooperative-sticky assignment moves only the partitions that change owner.
  The revoke callback waits for the batch whose write is in flight (none is being folded: the
  consumer thread is inside `consume()`), stores its offsets and commits synchronously before
  the partitions go. Lost partitions (the session expired) are not committed; their writes are
  versioned, so a late one loses against the new owner's.
- **Failures stay in their view.** Each view's feeder counts its own failures
  (projections/failures.py): a view whose batch fails sits out its backoff while the others are
  fed, then reads what it missed from the log, from its checkpoint. A partition's offsets are
  stored only up to what every view reading it (and feeding its live version) has stored, so a
  view that lags holds back its partitions' commits, never another view's documents. Events at
  fault are parked once the retries are spent (projections/dead_letters.py); every other
  failure is retried as long as it lasts. Only checkpoints that cannot be read on an
  assignment stop the worker (`ProjectionFailed`, exit code 70).
- **Between batches**, once a second, every feeder ticks: parked keys are re-read (and keys the
  operator released replayed), statuses reported, and a view that sat out a backoff catches up
  even if nothing more arrives.
- **Stopping.** `stop()` (SIGTERM and SIGINT call it) stops fetching; the batch in hand is
  written, its offsets stored and committed, and `close()` leaves the group so the partitions
  move at once. With `group.instance.id` (static membership) the member is kept for the
  session timeout instead, so a restart within it gets the same partitions without a
  rebalance.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from events.log import Entry, Position
from projections.failures import ProjectionFailed
from projections.feeder import TP, ViewFeeder, log_batch
from projections.metrics import ProjectionMetrics

log = structlog.get_logger("kafka_engine")
_LIBRDKAFKA = logging.getLogger("librdkafka")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """The consumer's settings. The first four come from `Settings` (tribe/bootstrap.py); the rest are tuning.

    `retries` and `backoff` bound the checkpoint reads of an assignment; each view's own retries are
    its feeder's (`Retry`, from `Settings` too).
    """

    group: str
    session_timeout: float
    fetch_wait: float
    instance_id: str | None
    batch_size: int = 5000
    retries: int = 4
    backoff: float = 0.5
    commit_interval: float = 1.0
    poll_interval: float = 0.1  # longest a wait for the first message of a batch blocks before the stop flag is read
    tick_interval: float = 1.0  # how often the feeders tick, between batches


def consumer_config(bootstrap: str, options: EngineOptions) -> dict[str, Any]:
    session_ms = int(options.session_timeout * 1000)
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": options.group,
        "client.id": "tribestream-worker",
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.auto.commit": True,  # commits only what was stored, and only the engine stores
        "auto.commit.interval.ms": int(options.commit_interval * 1000),
        "enable.auto.offset.store": False,
        # Every start offset comes from the store; one beyond the end of the log is a store fed
        # from another log, which must stop the worker rather than be "reset".
        "auto.offset.reset": "error",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(100, session_ms // 5),
        "fetch.wait.max.ms": max(1, int(options.fetch_wait * 1000)),
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "logger": _LIBRDKAFKA,
    }
    if options.instance_id:
        config["group.instance.id"] = options.instance_id
    return config


class KafkaEngine:
    """Runs the feeders' views on one consumer of the group `options.group` until stopped."""

    def __init__(
        self,
        bootstrap: str,
        feeders: Sequence[ViewFeeder],
        options: EngineOptions,
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.feeders = list(feeders)
        self.options = options
        self.metrics = metrics or ProjectionMetrics()
        self.topics = sorted({topic for feeder in self.feeders for topic in feeder.view.topics})
        self._readers: dict[str, list[ViewFeeder]] = {
            topic: [f for f in self.feeders if topic in f.view.topics] for topic in self.topics
        }
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Loop side: whether a batch was submitted whose writes may still be in flight.
        self._in_flight = False
        # Consumer-thread side.
        self._assigned: set[TP] = set()
        self._owned: frozenset[TP] = frozenset()  # a copy of _assigned the loop side reads (`assigned`)
        self._stored: dict[TP, int] = {}
        self._failed = False

    def assigned(self) -> frozenset[TP]:
        """The partitions this worker's consumer holds now (any thread): whose fan-out it runs."""
        return self._owned

    def stop(self) -> None:
        """Stop fetching; `run` returns once the batch in hand is written and committed (any thread)."""
        if not self._stopping.is_set():
            log.info("worker_stopping")
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()` (or SIGTERM/SIGINT); raises ProjectionFailed if checkpoints cannot be read."""
        loop = self._loop = asyncio.get_running_loop()
        for feeder in self.feeders:  # every view is installed before any batch, also those with empty topics
            await feeder.prepare()
        handled = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop)
                handled.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        outcome: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(target=self._consumer_thread, args=(outcome,), name="kafka-consumer", daemon=True)
        thread.start()
        log.info("worker_ready", group=self.options.group, views=[f.view.name for f in self.feeders],
                 instance=self.options.instance_id)
        try:
            await asyncio.shield(asyncio.wrap_future(outcome))
        except asyncio.CancelledError:
            # The consumer thread needs this loop to finish its batch and commit: wait for it.
            self.stop()
            await asyncio.wrap_future(outcome)
            raise
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
        log.info("worker_stopped", group=self.options.group)

    # -- the consumer thread ---------------------------------------------------------------

    def _call(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine on the loop and wait for it (consumer thread only)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    def _consumer_thread(self, outcome: concurrent.futures.Future[None]) -> None:
        try:
            self._consume()
        except BaseException as exc:
            outcome.set_exception(exc)
        else:
            outcome.set_result(None)

    def _consume(self) -> None:
        options = self.options
        consumer = Consumer({**consumer_config(self.bootstrap, options), "error_cb": self._on_error})
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        ticked = time.monotonic()
        try:
            while not self._stopping.is_set():
                if time.monotonic() - ticked >= options.tick_interval:  # busy or idle
                    ticked = time.monotonic()
                    self._store(consumer, self._call(self._tick()))
                messages = consumer.consume(options.batch_size, timeout=0)
                if not messages:
                    if self._in_flight:  # idle: finish the write in flight so its offsets can be stored
                        self._store(consumer, self._call(self._write([], drain=True)))
                    first = consumer.poll(options.poll_interval)
                    if first is None:
                        continue
                    messages = [first, *consumer.consume(options.batch_size - 1, timeout=0)]
                entries = self._entries(messages)
                if entries:
                    self._store(consumer, self._call(self._write(entries, drain=False)))
            self._store(consumer, self._call(self._write([], drain=True)))
            self._commit(consumer)
        except ProjectionFailed:
            self._failed = True
            raise
        finally:
            # Leaves the group: the revoke callback commits what is stored, and the partitions move now.
            try:
                consumer.close()
            except KafkaException as exc:
                log.warning("consumer_close_failed", error=str(exc))

    def _entries(self, messages: Sequence[Message]) -> list[Entry]:
        entries: list[Entry] = []
        append = entries.append
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._AUTO_OFFSET_RESET:
                    raise RuntimeError(
                        f"{m.topic()}:{m.partition()}: the store's checkpoint is beyond the end of the log ({err}); "
                        "is this store fed from another log?"
                    )
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consumer_error", error=str(err))
                continue
            append(Entry(Position(m.topic(), m.partition(), m.offset()), m.key() or b"", m.value() or b""))  # type: ignore[arg-type]
        return entries

    def _store(self, consumer: Consumer, offsets: dict[TP, int]) -> None:
        """Store offsets the views have reached and that were not stored yet, for the partitions held."""
        mine = [
            TopicPartition(t, p, o)
            for (t, p), o in offsets.items()
            if (t, p) in self._assigned and self._stored.get((t, p), -1) < o
        ]
        if not mine:
            return
        for tp in mine:
            self._stored[(tp.topic, tp.partition)] = tp.offset
        try:
            consumer.store_offsets(offsets=mine)
        except KafkaException as exc:  # a partition went between the write and now: its new owner re-reads the store
            log.warning("offsets_not_stored", error=str(exc))

    def _commit(self, consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing stored since the last commit
                log.warning("commit_failed", error=str(exc))

    def _on_error(self, err: KafkaError) -> None:
        log.warning("kafka_error", error=str(err), fatal=err.fatal())
        if err.fatal():
            self.stop()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        if not tps:
            return
        starts = self._call(self._starts(tps))
        consumer.incremental_assign([TopicPartition(t, p, starts[(t, p)]) for t, p in tps])
        self._assigned.update(tps)
        self._owned = frozenset(self._assigned)
        for tp in tps:
            self._stored.pop(tp, None)
        self.metrics.rebalanced("assigned", len(tps))
        log.info("partitions_assigned", partitions=_named(starts))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        if not self._failed:
            self._store(consumer, self._call(self._write([], drain=True)))
        self._commit(consumer)
        self._assigned.difference_update(tps)
        self._owned = frozenset(self._assigned)
        self._call(self._forget(tps))
        self.metrics.rebalanced("revoked", len(tps))
        log.info("partitions_revoked", partitions=sorted(f"{t}:{p}" for t, p in tps))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._assigned.difference_update(tps)  # another member may hold them already: store nothing for them
        self._owned = frozenset(self._assigned)
        if not self._failed:
            self._store(consumer, self._call(self._write([], drain=True)))
        self._call(self._forget(tps))
        self.metrics.rebalanced("lost", len(tps))
        log.warning("partitions_lost", partitions=sorted(f"{t}:{p}" for t, p in tps))

    # -- the loop side ---------------------------------------------------------------------

    async def _starts(self, tps: list[TP]) -> dict[TP, int]:
        """Where each partition starts: the lowest checkpoint of the live versions that read it and that this
        code feeds (of the others where no view of this code reads it)."""
        for attempt in range(self.options.retries + 1):
            try:
                starts: dict[TP, int] = {}
                others: dict[TP, int] = {}
                for feeder in self.feeders:
                    mine = [tp for tp in tps if tp[0] in feeder.view.topics]
                    if not mine:
                        continue
                    feeder.forget(mine)
                    stored = await feeder.checkpoint()
                    into = others if feeder.fenced_by is not None else starts
                    for tp in mine:
                        into[tp] = min(into.get(tp, stored.get(tp, 0)), stored.get(tp, 0))
                return {**others, **starts}
            except Exception as exc:
                if attempt >= self.options.retries:
                    raise ProjectionFailed("checkpoints", exc) from exc
                delay = self.options.backoff * 2**attempt
                log.warning("checkpoint_read_failed_retrying", attempt=attempt + 1, delay=delay, error=repr(exc))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _forget(self, tps: list[TP]) -> None:
        for feeder in self.feeders:
            feeder.forget(tps)

    async def _write(self, entries: list[Entry], *, drain: bool) -> dict[TP, int]:
        """Offer a batch to every view that reads it (and wait for every write if `drain`).

        A view that fails keeps its failure to itself: its feeder counts it and backs off.
        Returns, per partition, the offset up to which every view feeding it has stored its documents.
        """
        if entries:
            by_topic: dict[str, list[Entry]] = {}
            for entry in entries:
                by_topic.setdefault(entry.position.topic, []).append(entry)
            for feeder in self.feeders:
                mine = [e for topic in feeder.view.topics for e in by_topic.get(topic, ())]
                if mine:
                    await self._offer(feeder, mine)
            self._in_flight = True
        if drain:
            for feeder in self.feeders:
                await feeder.settle()
            self._in_flight = False
        return self._durable()

    async def _tick(self) -> dict[TP, int]:
        for feeder in self.feeders:
            await feeder.tick()
        return self._durable()

    def _durable(self) -> dict[TP, int]:
        """Per partition, the lowest offset the views feeding it have stored; none while one of them is unsure."""
        lowest: dict[TP, int] = {}
        unsure: set[TP] = set()
        for feeder in self.feeders:
            if feeder.fenced_by is not None:
                continue
            for tp in feeder.view.partitions():
                at = feeder.durable(tp)
                if at is None:
                    unsure.add(tp)
                else:
                    lowest[tp] = min(lowest.get(tp, at), at)
        return {tp: at for tp, at in lowest.items() if tp not in unsure}

    async def _offer(self, feeder: ViewFeeder, entries: list[Entry]) -> None:
        started = time.perf_counter()
        result = await feeder.offer(entries)
        seconds = time.perf_counter() - started
        log_batch(self.metrics, feeder, result, len(entries), seconds)


def _named(offsets: dict[TP, int]) -> dict[str, int]:
    return {f"{t}:{p}": o for (t, p), o in sorted(offsets.items())}
