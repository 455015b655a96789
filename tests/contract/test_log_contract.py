"""The Log port's behaviour, written once; every adapter's subclass must pass it unchanged.

Offsets are compared relative to each partition's end before the test, so the
suite also holds on a broker that other tests write to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from events.adapters.kafka_log import KafkaLog, KafkaOptions
from events.adapters.sqlite_log import SqliteLog
from events.log import EventIdConflict, Log, LogUnavailable, Position, Record
from events.routing import ARTICLES, FOLLOWS, USERS
from tests.kafka_broker import TansuBroker

OpenLog = Callable[[], Awaitable[Log]]


def record(topic: str, partition: int, n: int) -> Record:
    event_id = uuid.uuid4().hex
    return Record(topic, partition, f"key-{n}".encode(), f"value-{n}-{event_id}".encode(), event_id)


async def ends(log: Log, tps: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    return {tp: await log.end_offset(*tp) for tp in tps}


class LogContract:
    """Subclasses provide `open_log`: a factory for a new client of the same log."""

    @pytest.fixture
    def open_log(self) -> OpenLog:  # pragma: no cover - overridden by every subclass
        raise AssertionError("a Log contract subclass must provide the open_log fixture")

    @pytest.fixture
    async def log(self, open_log: OpenLog) -> AsyncIterator[Log]:
        log = await open_log()
        yield log
        await log.close()

    async def test_append_returns_positions_in_order_per_partition(self, log: Log) -> None:
        records = [record(ARTICLES, 3, 0), record(FOLLOWS, 1, 1), record(ARTICLES, 3, 2), record(ARTICLES, 5, 3),
                   record(ARTICLES, 3, 4), record(FOLLOWS, 1, 5)]
        before = await ends(log, {(r.topic, r.partition) for r in records})
        positions = await log.append(records)
        assert len(positions) == len(records)
        expected: dict[tuple[str, int], int] = dict(before)
        for r, p in zip(records, positions):
            assert (p.topic, p.partition) == (r.topic, r.partition)
            assert p.offset == expected[(r.topic, r.partition)]
            expected[(r.topic, r.partition)] += 1

    async def test_read_back_equals_what_was_appended(self, log: Log) -> None:
        records = [record(ARTICLES, 6, n) for n in range(5)]
        positions = await log.append(records)
        entries = await log.read(ARTICLES, 6, positions[0].offset, 100)
        assert [e.position for e in entries] == positions
        assert [(e.key, e.value) for e in entries] == [(r.key, r.value) for r in records]

    async def test_read_honours_offset_and_limit(self, log: Log) -> None:
        positions = await log.append([record(USERS, 0, n) for n in range(6)])
        entries = await log.read(USERS, 0, positions[2].offset, 3)
        assert [e.position for e in entries] == positions[2:5]

    async def test_read_at_the_end_is_empty(self, log: Log) -> None:
        await log.append([record(FOLLOWS, 2, 0)])
        end = await log.end_offset(FOLLOWS, 2)
        assert await log.read(FOLLOWS, 2, end, 10) == []

    async def test_end_offset_is_the_next_position(self, log: Log) -> None:
        before = await log.end_offset(ARTICLES, 7)
        positions = await log.append([record(ARTICLES, 7, n) for n in range(4)])
        assert await log.end_offset(ARTICLES, 7) == before + 4 == positions[-1].offset + 1

    async def test_end_offsets_of_many_partitions_agree_with_each_one(self, log: Log) -> None:
        await log.append([record(ARTICLES, 6, n) for n in range(3)] + [record(ARTICLES, 5, 9)])
        partitions = [(ARTICLES, 5), (ARTICLES, 6), (ARTICLES, 4)]
        assert await log.end_offsets(partitions) == {tp: await log.end_offset(*tp) for tp in partitions}

    async def test_end_offsets_follow_every_append_of_this_client_and_of_another(self, open_log: OpenLog) -> None:
        partitions = [(ARTICLES, 5), (ARTICLES, 6)]
        mine, other = await open_log(), await open_log()
        try:
            before = await mine.end_offsets(partitions)
            assert await mine.end_offsets(partitions) == before
            await mine.append([record(ARTICLES, 5, 1)])
            assert await mine.end_offsets(partitions) == {**before, (ARTICLES, 5): before[(ARTICLES, 5)] + 1}
            await other.append([record(ARTICLES, 6, n) for n in range(2)])
            assert await mine.end_offsets(partitions[1:]) == {(ARTICLES, 6): before[(ARTICLES, 6)] + 2}
            assert await mine.end_offsets(partitions) == {
                (ARTICLES, 5): before[(ARTICLES, 5)] + 1,
                (ARTICLES, 6): before[(ARTICLES, 6)] + 2,
            }
        finally:
            await mine.close()
            await other.close()

    async def test_read_many_agrees_with_a_read_of_each_partition(self, log: Log) -> None:
        first = await log.append([record(ARTICLES, 6, n) for n in range(5)] + [record(ARTICLES, 5, 9)])
        starts = {(ARTICLES, 6): first[2].offset, (ARTICLES, 5): first[-1].offset, (ARTICLES, 4): 0}
        read = await log.read_many(starts, 2)
        assert read == {tp: await log.read(*tp, offset, 2) for tp, offset in starts.items()}
        assert [e.position.offset for e in read[(ARTICLES, 6)]] == [first[2].offset, first[3].offset]

    async def test_follow_gives_every_entry_from_its_offsets_on_once_and_in_order_as_they_come(
        self, log: Log, open_log: OpenLog
    ) -> None:
        tps = [(ARTICLES, 1), (FOLLOWS, 3)]
        earlier = await log.append([record(ARTICLES, 1, 0), record(FOLLOWS, 3, 1)])
        starts = {(p.topic, p.partition): p.offset for p in earlier}
        writer = await open_log()  # appends of another client reach the follower too
        followed = log.follow(starts)
        try:
            seen: list[Position] = []
            async with asyncio.timeout(60):
                while len(seen) < len(earlier):
                    seen += [entry.position for entry in await anext(followed)]
                later = await writer.append([record(tp[0], tp[1], n) for n in range(3) for tp in tps])
                while len(seen) < len(earlier) + len(later):
                    seen += [entry.position for entry in await anext(followed)]
            assert sorted(seen) == sorted([*earlier, *later]) and len(set(seen)) == len(seen)
            for tp in tps:
                mine = [p.offset for p in seen if (p.topic, p.partition) == tp]
                assert mine == sorted(mine)
        finally:
            await followed.aclose()
            await writer.close()

    async def test_append_of_nothing_returns_nothing(self, log: Log) -> None:
        assert await log.append([]) == []

    async def test_concurrent_appends_get_distinct_consecutive_offsets(self, log: Log) -> None:
        before = await log.end_offset(ARTICLES, 1)
        batches = [[record(ARTICLES, 1, 10 * b + n) for n in range(3)] for b in range(8)]
        results = await asyncio.gather(*(log.append(batch) for batch in batches))
        offsets = sorted(p.offset for positions in results for p in positions)
        assert offsets == list(range(before, before + 24))
        for batch, positions in zip(batches, results):
            assert [p.offset for p in positions] == sorted(p.offset for p in positions)
            read = await log.read(ARTICLES, 1, positions[0].offset, 1)
            assert read[0].value == batch[0].value

    async def test_commit_and_committed_round_trip(self, log: Log) -> None:
        group, other = f"g-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"
        assert await log.committed(group) == {}
        await log.commit(group, {(ARTICLES, 0): 5, (USERS, 0): 2})
        assert await log.committed(group) == {(ARTICLES, 0): 5, (USERS, 0): 2}
        await log.commit(group, {(ARTICLES, 0): 9})
        assert await log.committed(group) == {(ARTICLES, 0): 9, (USERS, 0): 2}
        assert await log.committed(other) == {}

    async def test_appends_and_offsets_outlive_the_client(self, open_log: OpenLog) -> None:
        group = f"g-{uuid.uuid4().hex}"
        records = [record(FOLLOWS, 3, n) for n in range(3)]
        first = await open_log()
        positions = await first.append(records)
        await first.commit(group, {(FOLLOWS, 3): positions[-1].offset + 1})
        await first.close()
        second = await open_log()
        try:
            entries = await second.read(FOLLOWS, 3, positions[0].offset, 10)
            assert [(e.position, e.value) for e in entries] == [(p, r.value) for p, r in zip(positions, records)]
            assert await second.end_offset(FOLLOWS, 3) == positions[-1].offset + 1
            assert await second.committed(group) == {(FOLLOWS, 3): positions[-1].offset + 1}
        finally:
            await second.close()


    async def test_the_same_event_id_from_two_actors_names_two_events(self, log: Log) -> None:
        """Clients choose their event ids, so two users may choose the same one: each names their own event."""
        event_id = f"client-{uuid.uuid4().hex[:12]}"
        ann = Record(ARTICLES, 2, b"a1", b"ann's view", event_id, actor_id="ann", digest="d1")
        ben = Record(ARTICLES, 2, b"a1", b"ben's view", event_id, actor_id="ben", digest="d1")
        [first] = await log.append([ann])
        [second] = await log.append([ben])
        assert second == Position(ARTICLES, 2, first.offset + 1)
        assert [e.value for e in await log.read(ARTICLES, 2, first.offset, 10)] == [b"ann's view", b"ben's view"]

    async def test_id_blocks_are_never_handed_out_twice(self, open_log: OpenLog) -> None:
        one, other = await open_log(), await open_log()
        try:
            claims = await asyncio.gather(*(log.claim_id_block() for log in (one, other) for _ in range(10)))
            claims += [await one.claim_id_block(), await other.claim_id_block()]
        finally:
            await one.close()
            await other.close()
        assert len(set(claims)) == len(claims)
        assert min(claims) > 0


class TestSqliteLog(LogContract):
    @pytest.fixture
    def open_log(self, tmp_path: Path) -> OpenLog:
        async def open_log() -> Log:
            return SqliteLog(tmp_path / "log.db")

        return open_log

    async def test_an_event_id_already_in_the_log_keeps_its_first_position(self, log: Log) -> None:
        first = dataclasses.replace(record(ARTICLES, 2, 0), actor_id="ann", digest="d1")
        second = record(ARTICLES, 2, 1)
        [position] = await log.append([first])
        # A retry: the same actor, id and digest, accepted at another time (so other bytes).
        again = Record(ARTICLES, 2, first.key, b"a retried copy", first.event_id, "ann", "d1")
        assert await log.append([again, second, again]) == [position, Position(ARTICLES, 2, 1), position]
        assert [e.value for e in await log.read(ARTICLES, 2, 0, 10)] == [first.value, second.value]
        assert await log.end_offset(ARTICLES, 2) == 2

    async def test_an_event_id_with_another_digest_refuses_its_batch_alone(self, log: Log) -> None:
        first = Record(ARTICLES, 2, b"a1", b"a view", "client-0001", "ann", "d1")
        await log.append([first])
        other_payload = Record(ARTICLES, 2, b"a1", b"a bump", "client-0001", "ann", "d2")
        # Appended together, so written in one group commit: only the conflicting batch is refused.
        conflict, kept = await asyncio.gather(
            log.append([record(ARTICLES, 2, 1), other_payload]),
            log.append([record(ARTICLES, 2, 2)]),
            return_exceptions=True,
        )
        assert isinstance(conflict, EventIdConflict) and conflict.index == 1
        assert kept == [Position(ARTICLES, 2, 1)]
        same_batch = await asyncio.gather(
            log.append([Record(ARTICLES, 2, b"a1", b"x", "client-0002", "ann", "d1"),
                        Record(ARTICLES, 2, b"a1", b"y", "client-0002", "ann", "d2")]),
            return_exceptions=True,
        )
        assert isinstance(same_batch[0], EventIdConflict) and same_batch[0].index == 1
        assert await log.end_offset(ARTICLES, 2) == 2

    async def test_a_failed_offset_commit_leaves_no_transaction_open(self, log: Log) -> None:
        with pytest.raises(LogUnavailable):
            await log.commit("g", {(ARTICLES, 0): object()})  # type: ignore[dict-item]  # SQLite cannot bind it
        assert await log.append([record(ARTICLES, 0, 0)]) == [Position(ARTICLES, 0, 0)]
        await log.commit("g", {(ARTICLES, 0): 1})
        assert await log.committed("g") == {(ARTICLES, 0): 1}

    async def test_a_sqlite_error_is_log_unavailable_and_the_next_append_goes_through(
        self, log: Log, tmp_path: Path
    ) -> None:
        outside = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
        outside.execute("CREATE TRIGGER refuse BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        with pytest.raises(LogUnavailable, match="disk says no"):
            await log.append([record(ARTICLES, 0, 0)])
        outside.execute("DROP TRIGGER refuse")
        outside.close()
        assert await log.append([record(ARTICLES, 0, 1)]) == [Position(ARTICLES, 0, 0)]


@pytest.mark.kafka
class TestKafkaLog(LogContract):
    @pytest.fixture
    def open_log(self, kafka_broker: TansuBroker) -> OpenLog:
        async def open_log() -> Log:
            # One Tansu broker: one replica, and one in sync.
            options = KafkaOptions(delivery_timeout=5.0, replication_factor=1, min_insync_replicas=1)
            return KafkaLog(kafka_broker.url, options)

        return open_log
