"""Choosing the Kafka log from settings, without connecting anywhere."""

from __future__ import annotations

import pytest

from events.adapters.kafka_log import KafkaLog, bootstrap_servers
from tribe.bootstrap import make_log
from tribe.settings import Settings


def test_a_kafka_url_gives_a_kafka_log_with_every_broker_and_the_configured_timeout() -> None:
    settings = Settings.from_env(
        {"TRIBE_LOG": "kafka://10.0.0.1:9092,10.0.0.2:9093", "TRIBE_KAFKA_DELIVERY_TIMEOUT": "3"}
    )
    log = make_log(settings)
    assert isinstance(log, KafkaLog)
    assert log.bootstrap == "10.0.0.1:9092,10.0.0.2:9093"
    assert log.options.delivery_timeout == 3.0


@pytest.mark.parametrize("url", ["kafka://", "kafka://,", "http://broker:9092"])
def test_a_kafka_url_without_a_broker_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        bootstrap_servers(url)
