"""Fixtures the integration suites share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from events.adapters.kafka_log import KafkaLog
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS
from tests.kafka_broker import TansuBroker


@pytest.fixture
async def kafka_log(isolated_kafka_broker: TansuBroker) -> AsyncIterator[KafkaLog]:
    """A started KafkaLog on a broker of the test's own, closed after it."""
    log = KafkaLog(isolated_kafka_broker.url, ONE_BROKER_OPTIONS)
    await log.start()
    yield log
    await log.close()
