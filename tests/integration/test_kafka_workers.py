"""`tribe worker` processes against a real broker: bytes that are no event, topics it must refuse.

Crashes, stops, rebalances and failing writes are the runtime contract suite's
(test_runtime_contract.py), which every engine runs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from events.adapters.kafka_log import TOPIC_CONFIG, KafkaLog
from events.log import Record
from events.routing import ARTICLES, DEFAULT_PARTITIONS, FOLLOWS, USERS, partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.views import USERS_VIEW, VIEWS
from tests.e2e.kafka_stack import worker_process
from tests.e2e.server import ONE_BROKER, TribeProcess, free_port
from tests.integration.workload import burst
from tests.kafka_broker import TansuBroker
from tests.sealed import records_of_events, sealed_codec

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("engine", ["kafka", "faust"])
async def test_bytes_that_are_no_event_are_parked_and_the_worker_goes_on(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    codec = sealed_codec()
    first, second = await records_of_events(codec, list(burst(100, seed=3))[:2])
    assert first.topic == second.topic == USERS
    poison = Record(USERS, 0, b"poison", b"these bytes are not an event", "poison-event-id")
    await kafka_log.append([first, poison, second])
    data_dir, log_path = tmp_path / "data", tmp_path / "worker.log"
    process = worker_process(isolated_kafka_broker.url, data_dir, log_path, "poison", engine=engine)
    process.env.update({"TRIBE_PROJECTION_RETRIES": "2", "TRIBE_PROJECTION_BACKOFF": "0.05"})
    process.start()
    try:
        deadline = time.monotonic() + 90
        while not (data_dir / "store.db").exists() or not await _users_projected(data_dir, [first, second]):
            assert process.process is not None and process.process.poll() is None, process.output()[-3000:]
            assert time.monotonic() < deadline, "the registration after the poison was never projected"
            await asyncio.sleep(0.25)
        store = SqliteStore(data_dir / "store.db")
        try:
            assert (await store.checkpoint(USERS_VIEW.projection_id())).get((USERS, 0)) == 3
            # Every view that reads tribe.users parks it (the users view, and the moderation view once its
            # retries are spent); this test waits for the users view's.
            letters = await store.dead_letters()
            readers = {v.projection_id() for v in VIEWS if USERS in v.topics}
            assert {x.projection for x in letters} <= readers
            (letter,) = [x for x in letters if x.projection == USERS_VIEW.projection_id()]
            assert (letter.topic, letter.offset, letter.key, letter.state) == (USERS, 1, "poison", "failed")
            assert letter.attempts == 3 and letter.cause.startswith("Undecodable")
        finally:
            await store.close()
        assert process.process is not None and process.process.poll() is None, "the worker stopped"
        deadline = time.monotonic() + 30
        while (await kafka_log.committed("poison")).get((USERS, 0), 0) < 3:
            assert time.monotonic() < deadline, "the offsets past the parked event were never committed"
            await asyncio.sleep(0.25)
    finally:
        process.stop()


async def _users_projected(data_dir: Path, records: list[Record]) -> bool:
    store = SqliteStore(data_dir / "store.db")
    try:
        if not await store.aliases():
            return False
        return len(await store.get("users", [r.key.decode() for r in records])) == len(records)
    finally:
        await store.close()


# Tansu lists its one node as often as a topic asks for replicas: three "replicas" pass the replication check and
# leave the min.insync.replicas one to refuse.
WEAK_TOPICS = [
    (FOLLOWS, partitions(FOLLOWS) - 1, 1, {}, {"TRIBE_KAFKA_REPLICATION_FACTOR": "2"}, "partitions"),
    (ARTICLES, partitions(ARTICLES), 1, {}, {"TRIBE_KAFKA_REPLICATION_FACTOR": "2"}, "replicas"),
    (
        ARTICLES, partitions(ARTICLES), 3, {"min.insync.replicas": "1"},
        {"TRIBE_KAFKA_REPLICATION_FACTOR": "3", "TRIBE_KAFKA_MIN_INSYNC_REPLICAS": "2"},
        "min.insync.replicas=1, TRIBE_KAFKA_MIN_INSYNC_REPLICAS asks for 2",
    ),
]


@pytest.mark.parametrize("engine", ["kafka", "faust"])
@pytest.mark.parametrize(("topic", "partitions", "replicas", "config", "env", "complaint"), WEAK_TOPICS)
async def test_a_worker_refuses_a_topic_with_fewer_partitions_or_weaker_durability_in_one_line(
    engine: str,
    topic: str,
    partitions: int,
    replicas: int,
    config: dict[str, str],
    env: dict[str, str],
    complaint: str,
    isolated_kafka_broker: TansuBroker,
    tmp_path: Path,
) -> None:
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    weak = NewTopic(topic, partitions, replicas, config={**TOPIC_CONFIG, **config})
    for future in admin.create_topics([weak]).values():
        future.result(10)
    process = worker_process(isolated_kafka_broker.url, tmp_path / "data", tmp_path / "worker.log", engine=engine)
    process.env.update(env)  # what production would ask of the weaker topic
    process.start()
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 60)
    lines = [line for line in process.output().splitlines() if line.startswith("tribe: ")]
    assert code == 2, process.output()[-2000:]
    assert len(lines) == 1 and topic in lines[0] and complaint in lines[0], process.output()[-2000:]


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("configured", "complaint"),
    [
        ("tribe.articles=16", "topic tribe.articles has 8 partitions, TRIBE_PARTITIONS asks for 16: adding"),
        (
            "tribe.articles=3",
            "topic tribe.articles has 8 partitions, more than the 3 TRIBE_PARTITIONS gives it, so keys would route "
            "to other partitions than hold them: set TRIBE_PARTITIONS=tribe.articles=8",
        ),
    ],
)
async def test_serve_and_worker_refuse_a_topic_with_another_partition_count_than_configured_in_one_line(
    command: str, configured: str, complaint: str, isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    existing = NewTopic(ARTICLES, DEFAULT_PARTITIONS[ARTICLES], 1, config=dict(TOPIC_CONFIG))
    for future in admin.create_topics([existing]).values():
        future.result(10)
    if command == "worker":
        process = worker_process(isolated_kafka_broker.url, tmp_path / "data", tmp_path / "tribe.log")
    else:
        env = {**ONE_BROKER, "TRIBE_LOG": isolated_kafka_broker.url, "TRIBE_DATA_DIR": str(tmp_path / "data")}
        process = TribeProcess(["serve", "--port", str(free_port())], tmp_path / "tribe.log", env)
    process.env["TRIBE_PARTITIONS"] = configured
    process.start()
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 60)
    lines = [line for line in process.output().splitlines() if line.startswith("tribe: ")]
    assert code == 2, process.output()[-2000:]
    assert len(lines) == 1 and complaint in lines[0], process.output()[-2000:]


async def test_serve_of_several_processes_on_a_weak_topic_exits_with_their_refusal(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    """The first API process refuses the topic in one line, before the others start; the command ends with its
    status, not a traceback of its own."""
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    weak = NewTopic(ARTICLES, partitions(ARTICLES), 1, config=dict(TOPIC_CONFIG))
    for future in admin.create_topics([weak]).values():
        future.result(10)
    env = {**ONE_BROKER, "TRIBE_LOG": isolated_kafka_broker.url, "TRIBE_DATA_DIR": str(tmp_path / "data"),
           "TRIBE_KAFKA_REPLICATION_FACTOR": "2"}
    process = TribeProcess(["serve", "--processes", "2", "--port", str(free_port())], tmp_path / "tribe.log", env)
    process.start()
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 60)
    output = process.output()
    lines = [line for line in output.splitlines() if line.startswith("tribe: ")]
    assert code == 2 and "Traceback" not in output, output[-3000:]
    assert len(lines) == 1 and ARTICLES in lines[0] and "replicas" in lines[0], output[-3000:]
