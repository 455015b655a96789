"""What only the Kafka adapter does: bounded failure when the broker is gone, recovery, topic set-up."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from events.adapters.kafka_log import TOPIC_CONFIG, KafkaLog
from events.log import LogUnavailable, Position, Record
from events.routing import (
    ARTICLES,
    DEFAULT_PARTITIONS,
    DEFAULT_TOPOLOGY,
    FOLLOWS,
    Topology,
    partition_for,
    partitions,
    topology,
)
from services.log_copy import copy_log
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS
from tests.e2e.server import running_server
from tests.integration.workload import burst
from tests.kafka_broker import BrokerProxy, TansuBroker
from tests.sealed import records_of_events, sealed_codec
from tests.sockets import ESTABLISHED, sockets, tcp
from tribe.bootstrap import logs_to_copy
from tribe.settings import BadSetting, Settings

pytestmark = pytest.mark.kafka


def records(n: int, partition: int = 4) -> list[Record]:
    return [Record(ARTICLES, partition, b"k", f"v-{uuid.uuid4().hex}".encode(), uuid.uuid4().hex) for _ in range(n)]


async def test_topics_are_created_with_the_routing_tables_partitions_and_explicit_configs(
    isolated_kafka_broker: TansuBroker,
) -> None:
    log = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await log.start()
    await log.close()
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    topics = admin.list_topics(timeout=5).topics
    assert {t: len(topics[t].partitions) for t in DEFAULT_PARTITIONS} == DEFAULT_PARTITIONS
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in DEFAULT_PARTITIONS]
    for resource, future in admin.describe_configs(resources).items():
        configs = future.result(timeout=5)
        assert {k: configs[k].value for k in TOPIC_CONFIG} == TOPIC_CONFIG, resource


async def test_topics_are_created_with_the_configured_partitions_and_a_server_with_them_starts(
    isolated_kafka_broker: TansuBroker, install_topology: Callable[[Topology], None], tmp_path: Path
) -> None:
    configured = "tribe.articles=3,tribe.follows=2"
    install_topology(Topology.parse(configured))
    log = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await log.start()
    await log.close()
    topics = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap}).list_topics(timeout=5).topics
    wanted = {**DEFAULT_PARTITIONS, ARTICLES: 3, FOLLOWS: 2}
    assert {t: len(topics[t].partitions) for t in DEFAULT_PARTITIONS} == wanted
    env = {"TRIBE_PARTITIONS": configured}
    with running_server(tmp_path / "data", "--log", isolated_kafka_broker.url, env=env) as server:
        assert "topic_created" not in server.output()


async def test_a_closed_log_holds_no_connection_to_the_broker(isolated_kafka_broker: TansuBroker) -> None:
    """Closing lets go of the producer and the offsets lister too, not only the consumers, while the log is
    still referenced: a client kept alive would reconnect to a broker that went away for as long as it lives."""
    log = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await log.append(records(3))
    assert (await log.end_offsets([(ARTICLES, 4)]))[(ARTICLES, 4)] == 3
    assert sockets() & tcp(isolated_kafka_broker.port, ESTABLISHED, remote=True)
    await log.close()
    assert not sockets() & tcp(isolated_kafka_broker.port, ESTABLISHED, remote=True)


async def test_a_full_local_queue_refuses_the_append_at_once(kafka_broker: TansuBroker) -> None:
    log = KafkaLog(kafka_broker.url, dataclasses.replace(ONE_BROKER_OPTIONS, queue_max_messages=10))
    try:
        started = time.monotonic()
        with pytest.raises(LogUnavailable):
            await log.append(records(11))
        assert time.monotonic() - started < 1.0
        assert len(await log.append(records(3))) == 3
    finally:
        await log.close()


async def test_broker_down_fails_appends_within_the_bound_then_recovers_without_a_new_client(
    proxied_kafka_broker: tuple[TansuBroker, BrokerProxy],
) -> None:
    broker, proxy = proxied_kafka_broker
    log = KafkaLog(broker.url, dataclasses.replace(ONE_BROKER_OPTIONS, delivery_timeout=2.0, request_timeout=2.0))
    try:
        [before] = await log.append(records(1))
        proxy.cut()
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(LogUnavailable) as failure:
                await log.append(records(5))
            assert time.monotonic() - started < 2.0 + 2.5
            assert failure.value.retry_after > 0
        with pytest.raises(LogUnavailable):
            await log.read(ARTICLES, 4, before.offset, 10)
        proxy.restore()
        acknowledged: list[tuple[Position, bytes]] = []
        deadline = time.monotonic() + 30
        while not acknowledged:
            assert time.monotonic() < deadline, "the log did not recover within 30 s of the broker's return"
            batch = records(3)
            try:
                positions = await log.append(batch)
            except LogUnavailable:
                await asyncio.sleep(0.2)
                continue
            acknowledged = [(p, r.value) for p, r in zip(positions, batch)]
        # Every acknowledged record is in the log where the append said it was.
        for position, value in acknowledged:
            [entry] = await log.read(position.topic, position.partition, position.offset, 1)
            assert (entry.position, entry.value) == (position, value)
        assert await log.end_offset(ARTICLES, 4) >= acknowledged[-1][0].offset + 1
    finally:
        await log.close()


async def test_a_batch_kafka_took_in_part_says_exactly_which_records_are_durable(kafka_broker: TansuBroker) -> None:
    """Kafka acknowledges records one by one: a failed append lists the acknowledged ones, where they are.

    The last record names a partition the topic does not have: librdkafka refuses it when it is
    produced if it knows the topic's partitions by then, or fails its delivery once it learns them.
    """
    log = KafkaLog(kafka_broker.url, ONE_BROKER_OPTIONS)
    try:
        for _ in range(2):  # the second time, the producer knows the partitions: refused when produced
            batch = records(4, partition=1)
            batch[3] = dataclasses.replace(batch[3], partition=partitions(ARTICLES) + 1)
            with pytest.raises(LogUnavailable) as failure:
                await log.append(batch)
            durable = failure.value.durable
            assert [p is not None for p in durable] == [True, True, True, False]
            for position, record in zip(durable, batch):
                if position is not None:
                    [entry] = await log.read(position.topic, position.partition, position.offset, 1)
                    assert entry.value == record.value
    finally:
        await log.close()



async def test_a_kafka_log_is_copied_into_a_new_log_with_other_counts_after_its_counts_are_checked(
    isolated_kafka_broker: TansuBroker, install_topology: Callable[[Topology], None], tmp_path: Path
) -> None:
    codec = sealed_codec()
    events = list(burst(200, seed=5))
    old = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await old.start()
    try:
        await old.append(await records_of_events(codec, events))
    finally:
        await old.close()
    settings = Settings(log_url=f"sqlite:///{tmp_path / 'new.db'}", partitions=Topology.parse("tribe.articles=3"))
    refusal = f"^--from-partitions: topic {ARTICLES} of kafka://.* has 8 partitions, not 2$"
    with pytest.raises(BadSetting, match=refusal):
        async with logs_to_copy(settings, isolated_kafka_broker.url, Topology.of({ARTICLES: 2})):
            pass
    async with logs_to_copy(settings, isolated_kafka_broker.url, DEFAULT_TOPOLOGY) as (source, target):
        copied = await copy_log(source, DEFAULT_TOPOLOGY, target, codec, on_partition=lambda *p: None)
        assert (copied.events, copied.undecodable) == (len(events), 0)
        entries = [e for t, n in topology().counts for p in range(n) for e in await target.read(t, p, 0, 1000)]
    assert partitions(ARTICLES) == 3  # the process runs on the new log's counts
    decoded = await codec.decode_batch(e.value for e in entries)
    assert sorted(e.event_id for e in decoded) == sorted(e.event_id for e in events)
    for entry in entries:
        assert entry.position.partition == partition_for(entry.position.topic, entry.key.decode())
