"""The production Log adapter: Kafka through confluent-kafka (librdkafka).

Appends go through one idempotent producer (`enable.idempotence`, `acks=all`)
to the partition the caller computed (events/routing.py uses Kafka's murmur2,
so the embedded and the Kafka log agree). `append` resolves only when every
record's delivery report has come back without error. Any error, a record that
is not confirmed within `message.timeout.ms`, or a full local queue raises
`LogUnavailable`, and the wait is bounded, so the API answers 503 with
Retry-After instead of hanging. Records are acknowledged one by one, so a batch
can fail after some of its records were written: the failure waits for every
record's report and lists the acknowledged ones with their positions (no
transactions: see docs/kafka.md, "All or nothing").

A background thread polls the producer so that delivery reports fire; an append's
reports are gathered on that thread and handed to the appending coroutine's loop with
one `call_soon_threadsafe` when the last one (or the first error) is in.

Topics are created with the configured partitions (the process topology, events/routing.py),
replication factor and `min.insync.replicas`; an existing topic with another partition count
than the topology's raises `TopicMismatch`,
and so does, when a process checks at start (`ensure_topics()`), one with fewer replicas or a
lower `min.insync.replicas`: the process must not start on it.

Unlike the embedded log, Kafka cannot refuse a record whose actor already has
an event of its id in the log. When a delivery times out the record may or may not have been
written; the caller saw `LogUnavailable`, and a client that retries with its
own event id may put the event in the log twice, at two offsets. Readers are
safe with that: documents carry the version of the last event applied, so a
redelivered entry is a no-op, and the reducers derive their counters from sets
(bumpers, comment ids, handle claims), so a duplicated event changes nothing
there either. See docs/kafka.md for the one counter that is not a set.

Reads, end offsets and consumer-group offsets use plain consumers that are
assigned partitions explicitly (no group membership), one reader for reads
and one per group for its offsets, each used from its own single thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic

from events.log import Entry, Log, LogUnavailable, Position, Record
from events.routing import Topology, topology

T = TypeVar("T")
log = structlog.get_logger("kafka_log")
_LIBRDKAFKA = logging.getLogger("librdkafka")
# Errors after which an idempotent producer cannot go on (librdkafka bumps the epoch after a
# timeout; a broker that refuses the bump fences it).
_PRODUCER_GONE = frozenset(
    {KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH, KafkaError._FENCED}
)

ID_BLOCKS = "tribe.id-blocks"
"""Where numeric ids are claimed (`claim_id_block`): one partition, read by nobody."""


def topics(counts: Topology) -> dict[str, int]:
    """Every topic the application creates, with its partition count: the topology's and the id blocks'."""
    return {**dict(counts.counts), ID_BLOCKS: 1}


# Explicit topic configs: the log keeps every event forever and is never compacted.
# (Tansu, the test broker, also answers describe_configs only for topics created with configs.)
TOPIC_CONFIG: dict[str, str] = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def bootstrap_servers(url: str) -> str:
    """`kafka://HOST:PORT[,HOST:PORT]` to librdkafka's `HOST:PORT,HOST:PORT`."""
    if not url.startswith("kafka://"):
        raise ValueError(f"not a kafka:// URL: {url!r}")
    servers = [s.strip() for s in url.removeprefix("kafka://").split(",") if s.strip()]
    if not servers:
        raise ValueError(f"no broker in {url!r}")
    return ",".join(servers)


class TopicMismatch(RuntimeError):
    """An existing topic does not have the shape or durability this process is configured for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaOptions:
    """Client settings. The first three come from `Settings` (tribe/bootstrap.py builds them); the rest are tuning.

    `delivery_timeout` bounds every append; `request_timeout` every read and admin call.
    """

    delivery_timeout: float
    replication_factor: int
    min_insync_replicas: int
    request_timeout: float = 5.0
    queue_max_messages: int = 100_000
    queue_max_kbytes: int = 65_536
    linger_ms: int = 2
    retry_after: float = 1.0
    client_id: str = "tribestream"


class _Batch:
    """One append's records in flight, resolved on the caller's loop once every record has its answer.

    Each record produced gets exactly one delivery report (librdkafka fails it after
    `message.timeout.ms` at the latest). When one fails, the batch still waits for the others,
    so the failure can say which records were acknowledged. Reports arrive on the poll thread;
    records that were never produced are written off on the caller's, hence the lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, on_error: Callable[[KafkaError], None]) -> None:
        self.loop = loop
        self.future: asyncio.Future[list[Position]] = loop.create_future()
        self.positions: list[Position | None] = [None] * size
        self.missing = size
        self.on_error = on_error
        self.reason: str | None = None
        self._lock = threading.Lock()

    def report(self, index: int) -> Callable[[KafkaError | None, Message], None]:
        return functools.partial(self._delivered, index)

    def _delivered(self, index: int, err: KafkaError | None, msg: Message) -> None:  # on the poll thread
        offset = -1 if err is not None else msg.offset()
        if err is not None or offset is None or offset < 0:
            if err is not None:
                self.on_error(err)
            self._answered(1, f"delivery failed: {err}")
            return
        self.positions[index] = Position(msg.topic(), msg.partition(), offset)  # type: ignore[arg-type]
        self._answered(1, None)

    def not_produced(self, count: int, reason: str) -> None:
        """The last `count` records were never handed to the producer: no report will come for them."""
        self._answered(count, reason)

    def _answered(self, count: int, failure: str | None) -> None:
        with self._lock:
            if failure is not None and self.reason is None:
                self.reason = failure
            self.missing -= count
            done = self.missing == 0
        if done:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone; nobody is waiting for this answer
                self.loop.call_soon_threadsafe(self._resolve)

    def acknowledged(self) -> tuple[Position | None, ...]:
        """Each record's position if it was acknowledged, None if not; empty if none was."""
        with self._lock:
            positions = tuple(self.positions)
        return positions if any(p is not None for p in positions) else ()

    def _resolve(self) -> None:
        if self.future.done():
            return
        if self.reason is None:
            self.future.set_result(self.positions)  # type: ignore[arg-type]  # every slot is filled
        else:
            self.future.set_exception(LogUnavailable(self.reason, durable=self.acknowledged()))


class KafkaLog(Log):
    def __init__(self, url: str, options: KafkaOptions, counts: Topology | None = None) -> None:
        """The log at `url`, whose topics have `counts` (by default, the process topology's)."""
        self.bootstrap = bootstrap_servers(url)
        self.options = options
        self._counts = counts
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._reader: Consumer | None = None
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="kafka-reader")
        self._group_thread = ThreadPoolExecutor(1, thread_name_prefix="kafka-groups")
        self._groups: dict[str, Consumer] = {}
        self._start_lock = asyncio.Lock()
        self._started = False
        self._producer_broken = False
        self._generation = 0
        self._end_waiters: list[tuple[set[tuple[str, int]], asyncio.Future[dict[tuple[str, int], int]]]] = []
        self._end_rounds: asyncio.Future[None] | None = None
        self._lister: AdminClient | None = None  # used on the read thread only
        self._on_error: Callable[[KafkaError], None] = lambda err: None

    # -- lifecycle -------------------------------------------------------------------

    def _producer_config(self) -> dict[str, Any]:
        o = self.options
        timeout_ms = int(o.delivery_timeout * 1000)
        return {
            "bootstrap.servers": self.bootstrap,
            "client.id": o.client_id,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": timeout_ms,
            "request.timeout.ms": timeout_ms,
            "queue.buffering.max.messages": o.queue_max_messages,
            "queue.buffering.max.kbytes": o.queue_max_kbytes,
            "linger.ms": o.linger_ms,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
        }

    def _consumer_config(self, group: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.options.client_id,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            # Reads are point reads that stop at the end of the partition: don't let the broker hold the
            # fetch that reports the end for the default half second.
            "fetch.wait.max.ms": 10,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
        }

    async def start(self) -> None:
        """Create the topics that are missing and the producer; called by the first operation if not before."""
        async with self._start_lock:
            if self._started:
                return
            create = functools.partial(self.ensure_topics, durability=False)
            await asyncio.get_running_loop().run_in_executor(self._group_thread, create)
            self._producer = self._new_producer()
            self._poller = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)
            self._poller.start()
            self._started = True

    @property
    def counts(self) -> Topology:
        """The partitions of this log's topics."""
        return self._counts or topology()

    def topic_config(self) -> dict[str, str]:
        return {**TOPIC_CONFIG, "min.insync.replicas": str(self.options.min_insync_replicas)}

    def ensure_topics(self, *, durability: bool = True) -> None:
        """Create every topic of the topology (and `tribe.id-blocks`) that does not exist, with explicit configs.

        Raises TopicMismatch for an existing topic with another partition count than the topology
        gives it (keys would route to other partitions than hold them) and, with `durability`, for one with
        fewer replicas than the replication factor or a lower `min.insync.replicas` than
        configured. Processes check durability once at start (tribe/bootstrap.py `check_topics`);
        the first append of a log that was not checked only creates what is missing.
        """
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "client.id": self.options.client_id})
        timeout = self.options.request_timeout
        try:
            existing = admin.list_topics(timeout=timeout).topics
        except KafkaException as exc:
            raise LogUnavailable(f"cannot list topics: {exc}", self.options.retry_after) from exc
        counts = topics(self.counts)
        wanted = [
            NewTopic(topic, partitions, self.options.replication_factor, config=self.topic_config())
            for topic, partitions in counts.items()
            if topic not in existing
        ]
        present = [topic for topic in counts if topic in existing]
        for topic in present:
            found, partitions = existing[topic].partitions, counts[topic]
            if len(found) < partitions:
                raise TopicMismatch(
                    f"topic {topic} has {len(found)} partitions, TRIBE_PARTITIONS asks for {partitions}: adding "
                    "partitions to a topic moves keys between them (docs/kafka.md, \"Growing a topic\", says how)"
                )
            if len(found) > partitions:
                raise TopicMismatch(
                    f"topic {topic} has {len(found)} partitions, more than the {partitions} TRIBE_PARTITIONS gives it, "
                    f"so keys would route to other partitions than hold them: set TRIBE_PARTITIONS={topic}={len(found)}"
                )
            replicas = min(len(p.replicas) for p in found.values())
            if durability and replicas < self.options.replication_factor:
                raise TopicMismatch(
                    f"topic {topic} has {replicas} replicas, TRIBE_KAFKA_REPLICATION_FACTOR asks for "
                    f"{self.options.replication_factor}"
                )
        if durability and present:
            self._check_min_insync(admin, present)
        if not wanted:
            return
        for topic, future in admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout + 1)
                log.info("topic_created", topic=topic, partitions=counts[topic],
                         replicas=self.options.replication_factor, min_insync_replicas=self.options.min_insync_replicas)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise LogUnavailable(f"cannot create topic {topic}: {exc}", self.options.retry_after) from exc

    def partition_counts(self) -> dict[str, int]:
        """The partitions of every application topic that exists on the cluster (`tribe log copy` checks a source)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "client.id": self.options.client_id})
        try:
            existing = admin.list_topics(timeout=self.options.request_timeout).topics
        except KafkaException as exc:
            raise LogUnavailable(f"cannot list topics: {exc}", self.options.retry_after) from exc
        return {topic: len(existing[topic].partitions) for topic in topics(self.counts) if topic in existing}

    def _check_min_insync(self, admin: AdminClient, topics: list[str]) -> None:
        timeout = self.options.request_timeout
        resources = [ConfigResource("topic", topic) for topic in topics]
        described = admin.describe_configs(resources, request_timeout=timeout)
        for resource, future in described.items():
            try:
                configs = future.result(timeout=timeout + 1)
            except KafkaException as exc:
                raise LogUnavailable(f"cannot describe topic {resource.name}: {exc}", self.options.retry_after) from exc
            entry = configs.get("min.insync.replicas")
            found = int(entry.value) if entry is not None and entry.value is not None else 1
            if found < self.options.min_insync_replicas:
                raise TopicMismatch(
                    f"topic {resource.name} has min.insync.replicas={found}, TRIBE_KAFKA_MIN_INSYNC_REPLICAS asks for "
                    f"{self.options.min_insync_replicas} (raise it with kafka-configs --alter)"
                )

    def _new_producer(self) -> Producer:
        self._generation += 1
        on_error = self._error_handler(self._generation)
        self._on_error = on_error
        return Producer({**self._producer_config(), "error_cb": on_error, "logger": _LIBRDKAFKA})

    def _error_handler(self, generation: int) -> Callable[[KafkaError], None]:
        def on_error(err: KafkaError) -> None:  # on librdkafka's threads
            # A fatal error (or a fenced epoch) leaves that producer unusable; errors of an
            # already replaced producer say nothing about the current one.
            if generation == self._generation and (err.fatal() or err.code() in _PRODUCER_GONE):
                if not self._producer_broken:
                    log.warning("kafka_producer_unusable", error=str(err))
                self._producer_broken = True

        return on_error

    def _replace_producer(self) -> None:
        """Swap in a new producer; the old one fails what it still holds, on a thread of its own."""
        old = self._producer
        self._producer = self._new_producer()
        self._producer_broken = False
        log.warning("kafka_producer_replaced")
        if old is not None:

            def drain() -> None:
                old.purge()
                old.flush(self.options.delivery_timeout)

            threading.Thread(target=drain, name="kafka-producer-drain", daemon=True).start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is not None:
                producer.poll(0.05)

    async def close(self) -> None:
        """Deliver what is queued, then let go of every client, so no connection outlives the log.

        A librdkafka client keeps its connections, and reconnects to a broker that went away, for as
        long as the object lives: the producer and the offsets lister are dropped here, not when
        the last reference to this log goes. A closed log is not used again.
        """
        if self._producer is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, self._producer.flush, self.options.delivery_timeout
            )
        self._stopping.set()
        if self._poller is not None:
            self._poller.join()
        self._producer = None
        for pool, consumers in ((self._read_thread, [self._reader]), (self._group_thread, list(self._groups.values()))):
            for consumer in consumers:
                if consumer is not None:
                    await asyncio.get_running_loop().run_in_executor(pool, consumer.close)
            pool.shutdown(wait=True)
        self._reader = None
        self._lister = None
        self._groups.clear()

    # -- appends -------------------------------------------------------------------------

    async def append(self, records: Sequence[Record]) -> list[Position]:
        """Produce every record; the positions once all are acknowledged.

        Kafka acknowledges records one by one, so a failed append may have written some of them:
        its LogUnavailable says which (`durable`, one entry per record). A full local queue found
        before the first record is produced refuses the whole batch at once.
        """
        if not records:
            return []
        await self.start()
        if self._producer_broken:
            self._replace_producer()
        producer = self._producer
        assert producer is not None
        retry_after = self.options.retry_after
        if len(producer) + len(records) > self.options.queue_max_messages:
            raise LogUnavailable("the producer's local queue is full", retry_after)
        batch = _Batch(asyncio.get_running_loop(), len(records), self._on_error)
        produce, report = producer.produce, batch.report
        produced = 0
        try:
            for index, record in enumerate(records):
                produce(record.topic, record.value, record.key, record.partition, on_delivery=report(index))
                produced += 1
        except BufferError:
            batch.not_produced(len(records) - produced, "the producer's local queue is full")
        except KafkaException as exc:
            batch.not_produced(len(records) - produced, f"cannot produce: {exc}")
        try:
            # librdkafka fails every record after message.timeout.ms; the margin covers the report's way back.
            async with asyncio.timeout(self.options.delivery_timeout + 2.0):
                return await batch.future
        except TimeoutError as exc:
            raise LogUnavailable("no delivery report in time", retry_after, batch.acknowledged()) from exc
        except LogUnavailable as exc:
            exc.retry_after = retry_after
            raise

    async def claim_id_block(self) -> int:
        """One more than the offset of a record appended to `tribe.id-blocks`.

        The topic has one partition, and Kafka gives each record of a partition its own offset,
        so each claim its own number, whichever process makes it. The record says who claimed.
        """
        claim = Record(ID_BLOCKS, 0, b"claim", self.options.client_id.encode(), "")
        [position] = await self.append([claim])
        return position.offset + 1

    # -- reads -----------------------------------------------------------------------------

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        await self.start()
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _reader_consumer(self) -> Consumer:
        if self._reader is None:
            self._reader = Consumer(self._consumer_config(f"{self.options.client_id}-reader"))
        return self._reader

    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Entry]:
        return await self._on(self._read_thread, self._read_now, topic, partition, offset, limit)

    def _read_now(self, topic: str, partition: int, offset: int, limit: int) -> list[Entry]:
        """`read` on the calling thread; not thread-safe, so only the read thread calls it."""
        entries, _ = self._scan(topic, partition, offset, limit)
        return entries

    def _scan(self, topic: str, partition: int, offset: int, limit: int) -> tuple[list[Entry], int | None]:
        """Entries from `offset` up to `limit`, and the end offset if the scan reached it."""
        consumer = self._reader_consumer()
        consumer.assign([TopicPartition(topic, partition, offset)])
        entries: list[Entry] = []
        deadline = time.monotonic() + self.options.request_timeout
        try:
            while len(entries) < limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if entries:
                        return entries, None
                    raise LogUnavailable(f"no answer reading {topic}:{partition}", self.options.retry_after)
                # Block for the first message (or the end-of-partition event), then take what is buffered.
                first = consumer.poll(min(remaining, 0.5))
                if first is None:
                    continue
                batch = [first, *consumer.consume(min(limit - len(entries), 1000), timeout=0)]
                for msg in batch:
                    err = msg.error()
                    if err is None:
                        at = msg.offset()
                        if at is not None and at >= offset:
                            entries.append(Entry(Position(topic, partition, at), msg.key() or b"", msg.value() or b""))
                        continue
                    if err.code() == KafkaError._PARTITION_EOF:
                        return entries, msg.offset()
                    if err.code() == KafkaError._AUTO_OFFSET_RESET:  # `offset` is past the end
                        return entries, None
                    raise LogUnavailable(f"reading {topic}:{partition}: {err}", self.options.retry_after)
            return entries[:limit], None
        finally:
            consumer.unassign()

    async def follow(self, starts: dict[tuple[str, int], int]) -> AsyncIterator[list[Entry]]:
        """One consumer of its own, assigned every partition at its offset (no group), polled on a thread of its own."""
        await self.start()
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1, thread_name_prefix="kafka-follow")
        config = {**self._consumer_config(f"{self.options.client_id}-follow"), "enable.partition.eof": False}
        consumer = Consumer({**config, "fetch.wait.max.ms": 100})
        try:
            assignment = [TopicPartition(t, p, o) for (t, p), o in sorted(starts.items())]
            await loop.run_in_executor(thread, consumer.assign, assignment)
            while True:
                batch = await loop.run_in_executor(thread, self._next_entries, consumer)
                if batch:
                    yield batch
        finally:
            thread.submit(consumer.close)
            thread.shutdown(wait=False)

    def _next_entries(self, consumer: Consumer) -> list[Entry]:
        """What the follower's consumer has within half a second; a fatal error is LogUnavailable, others pass."""
        entries: list[Entry] = []
        for msg in consumer.consume(1000, timeout=0.5):
            err = msg.error()
            if err is None:
                at = msg.offset()
                position = Position(msg.topic() or "", msg.partition() or 0, at if at is not None else -1)
                entries.append(Entry(position, msg.key() or b"", msg.value() or b""))
            elif err.fatal():
                raise LogUnavailable(f"following the log: {err}", self.options.retry_after)
        return entries

    async def end_offset(self, topic: str, partition: int) -> int:
        return (await self.end_offsets([(topic, partition)]))[(topic, partition)]

    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The end of each partition, asked of the broker after this call was made.

        Callers that ask while a round is under way share the next round, which asks for the
        union of their partitions at once: a hundred readers checking their X-Tribe-After per
        second cost a few rounds, not a hundred queued one after the other on the read thread.
        """
        wanted = set(partitions)
        if not wanted:
            return {}
        await self.start()
        answer: asyncio.Future[dict[tuple[str, int], int]] = asyncio.get_running_loop().create_future()
        self._end_waiters.append((wanted, answer))
        if self._end_rounds is None or self._end_rounds.done():
            self._end_rounds = asyncio.ensure_future(self._answer_end_waiters())
        return await answer

    async def _answer_end_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        while self._end_waiters:
            waiters, self._end_waiters = self._end_waiters, []
            union = sorted(set().union(*(wanted for wanted, _ in waiters)))
            try:
                ends = await loop.run_in_executor(self._read_thread, self._ends, union)
            except Exception as exc:
                for _, answer in waiters:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for wanted, answer in waiters:
                if not answer.done():
                    answer.set_result({tp: ends[tp] for tp in wanted})

    def _ends(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The end of every partition (read thread only).

        The listed high watermark is a lower bound (some brokers, Tansu among them, let it trail):
        every partition is read from it at once until the fetch reports the partition's end.
        """
        consumer = self._reader_consumer()
        timeout = self.options.request_timeout
        if self._lister is None:
            self._lister = AdminClient({"bootstrap.servers": self.bootstrap, "client.id": self.options.client_id})
        # One ListOffsets request per broker for every partition (a watermark query each took 2 ms).
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        listed = self._lister.list_offsets(
            {TopicPartition(topic, partition): latest for topic, partition in partitions}, request_timeout=timeout
        )
        starts: dict[tuple[str, int], int] = {}
        for asked, future in listed.items():
            try:
                starts[(asked.topic, asked.partition)] = max(future.result(timeout=timeout + 1).offset, 0)
            except KafkaException as exc:
                where = f"{asked.topic}:{asked.partition}"
                raise LogUnavailable(f"no end listed for {where}: {exc}", self.options.retry_after) from exc
        ends: dict[tuple[str, int], int] = {}
        consumer.assign([TopicPartition(topic, partition, offset) for (topic, partition), offset in starts.items()])
        deadline = time.monotonic() + timeout
        try:
            while len(ends) < len(starts):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(set(starts) - set(ends))
                    raise LogUnavailable(f"no end reported for {missing}", self.options.retry_after)
                first = consumer.poll(min(remaining, 0.5))
                if first is None:
                    continue
                for msg in [first, *consumer.consume(1000, timeout=0)]:
                    tp = (msg.topic() or "", msg.partition() or 0)
                    err, at = msg.error(), msg.offset()
                    if err is None:
                        if at is not None:
                            starts[tp] = max(starts[tp], at + 1)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        ends[tp] = at if at is not None else starts[tp]
                    elif err.code() == KafkaError._AUTO_OFFSET_RESET:  # the watermark is the end
                        ends[tp] = starts[tp]
                    else:
                        raise LogUnavailable(f"reading {tp[0]}:{tp[1]}: {err}", self.options.retry_after)
            return ends
        finally:
            consumer.unassign()

    # -- consumer-group offsets ----------------------------------------------------------

    def _group_consumer(self, group: str) -> Consumer:
        consumer = self._groups.get(group)
        if consumer is None:
            consumer = self._groups[group] = Consumer(self._consumer_config(group))
        return consumer

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return

        def commit() -> None:
            tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
            try:
                result = self._group_consumer(group).commit(offsets=tps, asynchronous=False)
            except KafkaException as exc:
                raise LogUnavailable(f"cannot commit offsets of {group}: {exc}", self.options.retry_after) from exc
            failed = [tp for tp in result or [] if tp.error is not None]
            if failed:
                raise LogUnavailable(f"cannot commit offsets of {group}: {failed[0].error}", self.options.retry_after)

        await self._on(self._group_thread, commit)

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        def query() -> dict[tuple[str, int], int]:
            tps = [TopicPartition(t, p) for t, n in self.counts.counts for p in range(n)]
            try:
                found = self._group_consumer(group).committed(tps, timeout=self.options.request_timeout)
            except KafkaException as exc:
                raise LogUnavailable(f"cannot read offsets of {group}: {exc}", self.options.retry_after) from exc
            return {(tp.topic, tp.partition): tp.offset for tp in found if tp.error is None and tp.offset >= 0}

        return await self._on(self._group_thread, query)

