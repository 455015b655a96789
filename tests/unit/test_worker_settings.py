"""The worker's settings: engine, static membership, topic durability, and the consumer they configure."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from events.routing import ARTICLES, DEFAULT_TOPOLOGY, FOLLOWS, USERS
from projections.kafka_engine import EngineOptions, consumer_config
from tribe.bootstrap import kafka_options, probe_socket
from tribe.cli import main
from tribe.settings import BadSetting, Settings


def test_the_kafka_engine_is_the_default_and_the_help_says_how_faust_differs() -> None:
    assert Settings.from_env({}).worker_engine == "kafka"
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    helped = " ".join(result.output.split())
    assert "kafka (default) batches straight from librdkafka" in helped
    differences = ("Its group's offsets can pass what a failing view stored", "a revoke waits for the write in flight")
    for difference in differences:
        assert difference in helped, f"tribe worker --help does not say how Faust differs: {difference}"


def test_production_defaults_ask_for_three_replicas_and_two_in_sync() -> None:
    options = kafka_options(Settings.from_env({"TRIBE_LOG": "kafka://k1:9092"}))
    assert (options.replication_factor, options.min_insync_replicas) == (3, 2)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRIBE_WORKER_ENGINE": "spark"}, "TRIBE_WORKER_ENGINE"),
        ({"TRIBE_KAFKA_REPLICATION_FACTOR": "0"}, "TRIBE_KAFKA_REPLICATION_FACTOR"),
        ({"TRIBE_KAFKA_REPLICATION_FACTOR": "1"}, "TRIBE_KAFKA_MIN_INSYNC_REPLICAS"),
        ({"TRIBE_KAFKA_MIN_INSYNC_REPLICAS": "0"}, "TRIBE_KAFKA_MIN_INSYNC_REPLICAS"),
        ({"TRIBE_WORKER_PORT": "65536"}, "TRIBE_WORKER_PORT"),
        ({"TRIBE_WORKER_PORT": "-1"}, "TRIBE_WORKER_PORT"),
        ({"TRIBE_READY_MAX_LAG": "-1"}, "TRIBE_READY_MAX_LAG"),
        ({"TRIBE_PARSED_DOCS_MB": "-1"}, "TRIBE_PARSED_DOCS_MB"),
        ({"TRIBE_PARTITIONS": "tribe.users=2"}, "TRIBE_PARTITIONS: tribe.users=2: tribe.users keeps 1 partition"),
        ({"TRIBE_PARTITIONS": "tribe.articles=0"}, "TRIBE_PARTITIONS: tribe.articles=0: a topic has at least 1"),
        ({"TRIBE_PARTITIONS": "articles=16"}, "TRIBE_PARTITIONS: articles is not a topic of the routing table"),
    ],
)
def test_unusable_worker_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(BadSetting, match=named):
        Settings.from_env(env)


def test_partitions_per_topic_are_the_routing_tables_unless_set() -> None:
    assert Settings.from_env({}).partitions == DEFAULT_TOPOLOGY
    given = Settings.from_env({"TRIBE_PARTITIONS": "tribe.articles=16,tribe.follows=8"}).partitions
    assert (given.partitions(ARTICLES), given.partitions(FOLLOWS), given.partitions(USERS)) == (16, 8, 1)


def test_the_workers_http_port_is_bound_before_it_starts_and_a_taken_one_is_refused_by_name() -> None:
    assert probe_socket(Settings(worker_port=0)) is None
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(BadSetting, match=f"TRIBE_WORKER_PORT: cannot listen on 127.0.0.1:{port} .*its own"):
            probe_socket(Settings(worker_port=port))
    bound = probe_socket(Settings(worker_port=port))
    assert bound is not None
    with bound:
        assert bound.getsockname() == ("127.0.0.1", port)


def options(instance_id: str | None) -> EngineOptions:
    return EngineOptions(group="g", session_timeout=6.0, fetch_wait=0.05, instance_id=instance_id)


def test_the_consumer_stores_offsets_only_when_told_and_assigns_cooperatively() -> None:
    config = consumer_config("k1:9092", options(None))
    assert config["enable.auto.offset.store"] is False
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert config["auto.offset.reset"] == "error"
    assert (config["session.timeout.ms"], config["fetch.wait.max.ms"]) == (6000, 50)
    assert "group.instance.id" not in config


def test_an_instance_id_makes_the_member_static() -> None:
    assert consumer_config("k1:9092", options("worker-3"))["group.instance.id"] == "worker-3"
