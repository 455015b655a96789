"""`tribe worker` processes against a real broker: sharing partitions, kill -9, and a batch that keeps failing."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import AsyncIterator, Sequence

import pytest

from events.adapters.kafka_log import KafkaLog
from events.codec import EventCodec
from events.log import Log, Record
from events.routing import USERS
from projections.adapters.sqlite_store import SqliteStore
from projections.faust_worker import EXIT_PROJECTION_FAILED
from projections.views import USERS_VIEW
from tests.e2e.kafka_stack import worker_process
from tests.e2e.server import TribeProcess
from tests.integration.projection_check import (
    differences,
    documents,
    replay_from_zero,
    wait_caught_up,
    worker_counts,
)
from tests.integration.workload import burst, to_record
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


def worker(broker: TansuBroker, data_dir: Path, log_path: Path, group: str) -> TribeProcess:
    return worker_process(broker.url, data_dir, log_path, group)


@pytest.fixture
async def kafka_log(isolated_kafka_broker: TansuBroker) -> AsyncIterator[KafkaLog]:
    log = KafkaLog(isolated_kafka_broker.url)
    await log.start()
    yield log
    await log.close()


async def append_paced(log: Log, records: Sequence[Record], *, batch: int, pause: float) -> None:
    for start in range(0, len(records), batch):
        await log.append(records[start : start + batch])
        await asyncio.sleep(pause)


async def test_two_workers_sharing_the_partitions_write_what_one_worker_writes(
    isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    codec = EventCodec()
    records = [to_record(codec, e) for e in burst(4000, seed=1)]
    alone = worker(isolated_kafka_broker, tmp_path / "one", tmp_path / "alone.log", "one").start()
    pair = [worker(isolated_kafka_broker, tmp_path / "two", tmp_path / f"pair-{i}.log", "two").start() for i in (0, 1)]
    one_store, two_store = SqliteStore(tmp_path / "one" / "store.db"), SqliteStore(tmp_path / "two" / "store.db")
    try:
        # Paced over ~12 s, so the second member joins while there is still work to share.
        await append_paced(kafka_log, records, batch=100, pause=0.3)
        await wait_caught_up(kafka_log, one_store, 90)
        await wait_caught_up(kafka_log, two_store, 90)
        expected = await documents(await replay_from_zero(kafka_log, tmp_path / "replay.db"))
        assert differences(await documents(one_store), expected) == []
        assert differences(await documents(two_store), expected) == []
        shares = [worker_counts(p.log_path)["processed"] for p in pair]
        assert all(share > 0 for share in shares), f"one worker of the pair did all the work: {shares}"
    finally:
        for process in (alone, *pair):
            process.stop()
        await one_store.close()
        await two_store.close()


async def test_kill_9_during_a_burst_leaves_every_document_as_a_clean_replay_would(
    isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path, record_property
) -> None:
    rng = random.Random(20240611)
    codec = EventCodec()
    unique = [to_record(codec, e) for e in burst(20_000, seed=2)]
    # 12.5% of the events are posted twice (an API retry after a timed-out append), somewhere later.
    placed = [(float(i), r) for i, r in enumerate(unique)]
    placed += [(rng.uniform(i + 0.5, len(unique)), unique[i]) for i in rng.sample(range(100, len(unique)), 2_500)]
    records = [r for _, r in sorted(placed, key=lambda p: p[0])]
    data_dir, log_path = tmp_path / "data", tmp_path / "worker.log"
    process = worker(isolated_kafka_broker, data_dir, log_path, "crash").start()
    kills = 0
    started = time.monotonic()
    try:
        quarter = len(records) // 4
        for phase in range(4):
            chunk = records[phase * quarter : len(records) if phase == 3 else (phase + 1) * quarter]
            await append_paced(kafka_log, chunk, batch=500, pause=0.02)
            if phase == 3:
                break
            # Kill at a random point once the (re)started worker is busy with this phase.
            before = worker_counts(log_path)["batches"]
            deadline = time.monotonic() + 60
            while worker_counts(log_path)["batches"] == before:
                assert time.monotonic() < deadline, "the restarted worker never processed a batch"
                await asyncio.sleep(0.1)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            process.kill()
            kills += 1
            process = worker(isolated_kafka_broker, data_dir, log_path, "crash").start()
        store = SqliteStore(data_dir / "store.db")
        catch_up = await wait_caught_up(kafka_log, store, 120)
        expected = await documents(await replay_from_zero(kafka_log, tmp_path / "replay.db"))
        actual = await documents(store)
        await store.close()
    finally:
        process.stop()
    counts = worker_counts(log_path)
    for key, value in {**counts, "kills": kills, "records": len(records), "catch_up_s": round(catch_up, 1),
                       "total_s": round(time.monotonic() - started, 1)}.items():
        record_property(key, value)
    print(f"\ncrash test: {kills} kills, {len(records)} records, counts {counts}, catch-up {catch_up:.1f} s")
    assert kills >= 3
    assert sum(len(docs) for docs in expected.values()) > 1000
    assert differences(actual, expected) == []


async def test_a_batch_that_keeps_failing_stops_the_worker_and_skips_nothing(
    isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    codec = EventCodec()
    first, second = [to_record(codec, e) for e in list(burst(100, seed=3))[:2]]
    assert first.topic == second.topic == USERS
    poison = Record(USERS, 0, b"poison", b"these bytes are not an event", "poison-event-id")
    await kafka_log.append([first, poison, second])
    data_dir, log_path = tmp_path / "data", tmp_path / "worker.log"
    process = worker(isolated_kafka_broker, data_dir, log_path, "poison").start()
    assert process.process is not None
    code = await asyncio.get_running_loop().run_in_executor(None, process.process.wait, 90)
    assert code == EXIT_PROJECTION_FAILED, process.output()[-3000:]
    assert "projection_failed_stopping_worker" in process.output()
    store = SqliteStore(data_dir / "store.db")
    try:
        checkpoint = await store.checkpoint(USERS_VIEW.projection_id())
        assert checkpoint.get((USERS, 0), 0) <= 1
        users = await store.get("users", [first.key.decode(), second.key.decode()])
        assert second.key.decode() not in users
    finally:
        await store.close()
    committed = await kafka_log.committed("poison")
    assert committed.get((USERS, 0), 0) <= 1, "the failed batch was committed: Kafka would skip it"
