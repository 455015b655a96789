"""The production pairing end to end: `tribe serve` and `tribe worker` on Kafka and Elasticsearch, RealWorld suite.

Kafka is the broker named by TRIBE_TEST_KAFKA (the GitHub workflow's service container), or the
Tansu broker the tests start; Elasticsearch is ELASTICSEARCH_URL, which no machine here can run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.kafka_stack import ONE_BROKER, running_worker, wait_until_projecting
from tests.e2e.server import running_server
from tests.e2e.test_newman import assert_collection_passed, run_collection
from tests.kafka_broker import TansuBroker

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.fixture
def kafka_url(tmp_path: Path) -> Iterator[str]:
    given = os.environ.get("TRIBE_TEST_KAFKA", "")
    if given:
        yield f"kafka://{given}"
        return
    broker = TansuBroker(tmp_path / "broker.log").start()
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.mark.newman
@pytest.mark.elasticsearch
@pytest.mark.skipif(
    not ELASTICSEARCH_URL,
    reason="ELASTICSEARCH_URL is not set: no Elasticsearch to run the production pairing against",
)
def test_realworld_collection_on_kafka_and_elasticsearch(
    tmp_path: Path, kafka_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every tribe process the test starts inherits these: the store, and one broker's replication.
    monkeypatch.setenv("TRIBE_STORE", ELASTICSEARCH_URL)
    for name, value in ONE_BROKER.items():
        monkeypatch.setenv(name, value)
    with (
        running_worker(kafka_url, tmp_path / "worker", tmp_path / "worker.log"),
        running_server(tmp_path / "api", "--log", kafka_url) as server,
    ):
        wait_until_projecting(server.url)
        assert_collection_passed(run_collection(server, tmp_path / "report.json"))
