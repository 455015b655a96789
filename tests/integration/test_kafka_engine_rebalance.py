"""The kafka engine's rebalance callbacks, watched while librdkafka runs them: two engines of one group, one broker.

The runtime contract suite (test_runtime_contract.py) checks where rebalances end. These check
the callbacks of projections/kafka_engine.py themselves, on the real broker (Tansu):

- **revoke** (a second worker joins, cooperative-sticky moves part of the first one's partitions):
  once the callback returns, the group's committed offset of each revoked partition is what the
  store's checkpoints cover, then and once every write of the partition still in flight has
  ended; so the batch whose write was in flight when the revoke came was written, its offsets
  stored and committed before the partitions went. The store's writes are slowed so that the
  revoke comes with a write in flight, and the test asks that one did.
- **lost** (the worker's store write hangs, its poll loop stalls past max.poll.interval.ms and
  librdkafka leaves the group for it; the other worker takes every partition): the lost callback
  stores and commits nothing, the feeders forget the lost partitions, and the group still ends
  with every document as a replay from offset 0 writes it and no committed offset past the store.

Each worker is the real engine (`KafkaEngine`, every view through its `ViewFeeder`, a SQLite
store of its own over one file), in this process and on its loop; a subclass records what each
callback did and what the broker and the store said right after it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, TopicPartition

from events.adapters.kafka_log import KafkaLog
from events.log import Record
from projections import kafka_engine
from projections.adapters.sqlite_store import SqliteStore
from projections.feeder import TP, ViewFeeder
from projections.kafka_engine import EngineOptions, KafkaEngine
from projections.live import live_version
from projections.store import Checkpoint, DocWrite
from projections.views import VIEWS
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS
from tests.integration.test_runtime_contract import assert_as_replayed, committed_beyond_store, records_of
from tests.kafka_broker import TansuBroker
from tests.sealed import sealed_codec

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

GROUP = "rebalanced"
# Tansu admits a member after about half the session timeout; a fetch answers when its wait runs out.
# Batches of 1,000 keep each hand-over to the loop well within max.poll.interval.ms (the lost case's).
OPTIONS = EngineOptions(group=GROUP, session_timeout=6.0, fetch_wait=0.1, instance_id=None, batch_size=1000)
ALL = frozenset(tp for view in VIEWS for tp in view.partitions())


class WatchedStore(SqliteStore):
    """The SQLite store; each view write waits while `open` is cleared and then takes `delay` longer. It counts
    the partitions its view writes in progress cover."""

    def __init__(self, path: Path, delay: float) -> None:
        super().__init__(path)
        self.delay = delay
        self.open = asyncio.Event()
        self.open.set()
        self.writing: Counter[TP] = Counter()

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if not checkpoint.offsets or not any(checkpoint.projection.startswith(f"{v.name}_v") for v in VIEWS):
            await super().write(writes, checkpoint)
            return
        covered = list(checkpoint.offsets)
        self.writing.update(covered)
        try:
            await self.open.wait()
            await asyncio.sleep(self.delay)
            await super().write(writes, checkpoint)
        finally:
            self.writing.subtract(covered)

    async def covers(self, tps: Iterable[TP]) -> bool:
        """Whether a view write in progress covers one of these partitions."""
        return any(self.writing[tp] > 0 for tp in tps)

    async def ended(self, tps: Sequence[TP], timeout: float = 30) -> None:
        """Until no view write in progress covers these partitions."""
        deadline = time.monotonic() + timeout
        while await self.covers(tps):
            assert time.monotonic() < deadline, f"a write of {tps} never ended"
            await asyncio.sleep(0.01)

    async def lowest(self, tps: Sequence[TP]) -> dict[TP, int]:
        """Per partition, the lowest checkpoint of the live versions of the views that read it (0 for none)."""
        aliases = await self.aliases()
        lowest: dict[TP, int] = {}
        for view in VIEWS:
            version = live_version(view, aliases)
            stored = await self.checkpoint(view.projection_id(version)) if version is not None else {}
            for tp in tps:
                if tp[0] in view.topics:
                    lowest[tp] = min(lowest.get(tp, stored.get(tp, 0)), stored.get(tp, 0))
        return lowest


@dataclass(frozen=True, slots=True)
class Revoke:
    """One revoke callback: whether a write of its partitions was in flight as it began, and once it returned the
    group's committed offsets (None: none), the store's checkpoints, and those once the writes still in flight
    (if any) had ended."""

    partitions: tuple[TP, ...]
    writing: bool
    committed: dict[TP, int | None]
    stored: dict[TP, int]
    settled: dict[TP, int]


@dataclass(frozen=True, slots=True)
class Loss:
    """One lost callback: what it asked of the consumer, the lost partitions a feeder still knew of after it, and
    the partitions the engine held after it."""

    partitions: frozenset[TP]
    asked: list[str]
    known: set[TP]
    held: frozenset[TP]


class Recorder:
    """The consumer a callback is handed, noting every offset it stores and every commit it asks for."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.asked: list[str] = []

    def store_offsets(self, *, offsets: list[TopicPartition]) -> None:
        self.asked.append("store " + " ".join(f"{tp.topic}:{tp.partition}@{tp.offset}" for tp in offsets))
        self.consumer.store_offsets(offsets=offsets)

    def commit(self, **kwargs: Any) -> Any:
        self.asked.append(f"commit {kwargs}")
        return self.consumer.commit(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)


class WatchedEngine(KafkaEngine):
    """The engine over every view and a WatchedStore, recording each revoke and each loss."""

    def __init__(self, name: str, broker: TansuBroker, store: WatchedStore, log: KafkaLog) -> None:
        self.codec = sealed_codec()
        feeders = [ViewFeeder(view, store, self.codec, log, runner=name) for view in VIEWS]
        super().__init__(broker.bootstrap, feeders, OPTIONS)
        self.name = name
        self.store = store
        self.revokes: list[Revoke] = []
        self.losses: list[Loss] = []

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = tuple(sorted((tp.topic, tp.partition) for tp in partitions))
        writing = self._call(self.store.covers(tps))
        super()._on_revoke(consumer, partitions)
        if not tps or self._stopping.is_set():  # closing: the broker no longer answers the member
            return
        found = consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=10)
        committed = {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None for tp in found}
        stored = self._call(self.store.lowest(tps))
        self._call(self.store.ended(tps))
        self.revokes.append(Revoke(tps, writing, committed, stored, self._call(self.store.lowest(tps))))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = frozenset((tp.topic, tp.partition) for tp in partitions)
        recorder = Recorder(consumer)
        super()._on_lost(cast(Consumer, recorder), partitions)
        known = {tp for feeder in self.feeders for tp in tps if feeder.durable(tp) is not None}
        self.losses.append(Loss(tps, recorder.asked, known, self.assigned()))


class Workers:
    """Engines of the group GROUP over one store file, each on this loop until the test ends."""

    def __init__(self, broker: TansuBroker, store_path: Path) -> None:
        self.broker = broker
        self.store_path = store_path
        self.running: list[tuple[WatchedEngine, asyncio.Task[None], KafkaLog]] = []

    def start(self, name: str, delay: float) -> WatchedEngine:
        log = KafkaLog(self.broker.url, ONE_BROKER_OPTIONS)
        engine = WatchedEngine(name, self.broker, WatchedStore(self.store_path, delay), log)
        self.running.append((engine, asyncio.create_task(engine.run(), name=name), log))
        return engine

    def check(self) -> None:
        """Every engine still runs."""
        for engine, task, _ in self.running:
            if task.done():
                raise AssertionError(f"{engine.name} stopped") from task.exception()

    async def until(self, what: str, condition: Callable[[], bool], timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check()
            assert time.monotonic() < deadline, f"{what} within {timeout} s"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for engine, _, _ in self.running:
            engine.store.open.set()
            engine.stop()
        ended = await asyncio.gather(*(asyncio.wait_for(task, 30) for _, task, _ in self.running),
                                     return_exceptions=True)
        for engine, _, log in self.running:
            await engine.store.close()
            await engine.codec.close()
            await log.close()
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome


@pytest.fixture
async def workers(isolated_kafka_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Workers]:
    running = Workers(isolated_kafka_broker, tmp_path / "store.db")
    try:
        yield running
    finally:
        await running.stop()


async def append_until(
    log: KafkaLog, records: Sequence[Record], done: Callable[[], bool], *, batch: int, pause: float
) -> int:
    """Append `records` a batch at a time until `done()`; return how many were appended."""
    appended = 0
    while appended < len(records) and not done():
        await log.append(records[appended : appended + batch])
        appended += batch
        await asyncio.sleep(pause)
    return min(appended, len(records))


async def test_a_revoke_commits_what_the_store_covers_before_the_partitions_go(
    kafka_log: KafkaLog, workers: Workers, tmp_path: Path
) -> None:
    records = await records_of(5_000, seed=41, duplicates=200)
    await kafka_log.append(records[:1_500])
    first = workers.start("first", delay=0.2)
    await workers.until("the first worker never held every partition", lambda: first.assigned() == ALL)
    second = workers.start("second", delay=0.2)
    # Events keep arriving faster than the first worker's slowed writes take them until it has given
    # partitions up: the revoke comes inside consume(), with the write of the batch before in flight.
    appending = asyncio.create_task(
        append_until(kafka_log, records[1_500:], lambda: bool(first.revokes), batch=20, pause=0.05)
    )
    await workers.until("no partition was ever revoked from the first worker", lambda: bool(first.revokes))
    await workers.until("the second worker never got partitions", lambda: bool(second.assigned()))
    appended = 1_500 + await appending
    await kafka_log.append(records[appended:])
    await assert_as_replayed(kafka_log, workers.store_path, tmp_path / "replay.db", timeout=45)
    revokes = [*first.revokes, *second.revokes]
    assert any(r.writing for r in first.revokes), f"no revoke came while a write was in flight: {first.revokes}"
    for revoke in revokes:
        covered = {tp: at for tp, at in revoke.settled.items() if at > 0}
        assert {tp: revoke.committed[tp] for tp in covered} == covered, f"committed is not the store's: {revoke}"
        assert revoke.stored == revoke.settled, f"a write of revoked partitions ended after the revoke: {revoke}"
        assert all(revoke.committed[tp] is None for tp in revoke.partitions if tp not in covered), revoke
    assert await committed_beyond_store(kafka_log, GROUP, workers.store_path) == {}


MAX_POLL_MS = 6000  # librdkafka takes no less than session.timeout.ms


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines whose member librdkafka takes out of the group once their poll loop has stalled MAX_POLL_MS (five
    minutes by default), reporting their partitions lost."""
    plain = kafka_engine.consumer_config

    def config(bootstrap: str, options: EngineOptions) -> dict[str, Any]:
        return {**plain(bootstrap, options), "max.poll.interval.ms": MAX_POLL_MS}

    monkeypatch.setattr(kafka_engine, "consumer_config", config)


async def test_lost_partitions_are_forgotten_and_not_committed_and_the_documents_end_as_replayed(
    impatient: None, kafka_log: KafkaLog, workers: Workers, tmp_path: Path
) -> None:
    records = await records_of(5_000, seed=43, duplicates=200)
    await kafka_log.append(records[:1_500])
    first, second = workers.start("first", delay=0.05), workers.start("second", delay=0.05)
    await workers.until("the workers never shared the partitions",
                        lambda: bool(second.assigned()) and first.assigned() | second.assigned() == ALL)
    held = first.assigned()
    appending = asyncio.create_task(
        append_until(kafka_log, records[1_500:], lambda: bool(first.losses and first.assigned()), batch=20, pause=0.05)
    )
    # The first worker's next view write hangs, and its consumer thread with it (waiting for the batch it
    # handed over); past max.poll.interval.ms librdkafka leaves the group and the second worker takes over,
    # from the store's checkpoints, which do not have the hanging write yet.
    first.store.open.clear()
    await workers.until("the second worker never took every partition", lambda: second.assigned() == ALL, 45)
    assert not first.losses, "the partitions were lost before the poll loop came back"
    first.store.open.set()  # the write lands late, on partitions the second worker holds; the poll loop goes on
    await workers.until("the first worker never reported its partitions lost", lambda: bool(first.losses))
    await workers.until("the first worker never got partitions again", lambda: bool(first.assigned()))
    appended = 1_500 + await appending
    await kafka_log.append(records[appended:])
    await assert_as_replayed(kafka_log, workers.store_path, tmp_path / "replay.db", timeout=45)
    (loss,) = first.losses
    assert loss.partitions == held
    assert loss.asked == [], f"the lost callback stored or committed offsets: {loss.asked}"
    assert loss.known == set(), f"the feeders still knew lost partitions: {sorted(loss.known)}"
    assert not loss.held & loss.partitions
    assert await committed_beyond_store(kafka_log, GROUP, workers.store_path) == {}
