"""`tribe worker` processes against a real broker: a batch that keeps failing, topics it must refuse.

Crashes, stops, rebalances and failing writes are the runtime contract suite's
(test_runtime_contract.py), which every engine runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from events.adapters.kafka_log import TOPIC_CONFIG, KafkaLog
from events.codec import EventCodec
from events.log import Record
from events.routing import ARTICLES, FOLLOWS, PARTITIONS, USERS
from projections.adapters.sqlite_store import SqliteStore
from projections.failures import EXIT_PROJECTION_FAILED
from projections.views import USERS_VIEW
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS, worker_process
from tests.integration.workload import burst, to_record
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


@pytest.fixture
async def kafka_log(isolated_kafka_broker: TansuBroker) -> AsyncIterator[KafkaLog]:
    log = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await log.start()
    yield log
    await log.close()


@pytest.mark.parametrize("engine", ["kafka", "faust"])
async def test_a_batch_that_keeps_failing_stops_the_worker_and_skips_nothing(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    codec = EventCodec()
    first, second = [to_record(codec, e) for e in list(burst(100, seed=3))[:2]]
    assert first.topic == second.topic == USERS
    poison = Record(USERS, 0, b"poison", b"these bytes are not an event", "poison-event-id")
    await kafka_log.append([first, poison, second])
    data_dir, log_path = tmp_path / "data", tmp_path / "worker.log"
    process = worker_process(isolated_kafka_broker.url, data_dir, log_path, "poison", engine=engine).start()
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


@pytest.mark.parametrize(
    ("topic", "partitions", "replicas", "complaint"),
    [
        (FOLLOWS, PARTITIONS[FOLLOWS] - 1, 1, "partitions"),
        (ARTICLES, PARTITIONS[ARTICLES], 1, "replicas"),
    ],
)
async def test_a_worker_refuses_a_topic_with_fewer_partitions_or_replicas_in_one_line(
    topic: str, partitions: int, replicas: int, complaint: str, isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, replicas, config=dict(TOPIC_CONFIG))]).values():
        future.result(10)
    process = worker_process(isolated_kafka_broker.url, tmp_path / "data", tmp_path / "worker.log")
    process.env["TRIBE_KAFKA_REPLICATION_FACTOR"] = "2"  # what production would ask of the one-replica topic
    process.start()
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 60)
    lines = [line for line in process.output().splitlines() if line.startswith("tribe: ")]
    assert code == 2, process.output()[-2000:]
    assert len(lines) == 1 and topic in lines[0] and complaint in lines[0], process.output()[-2000:]
