"""Fixtures shared by every test package."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from events.routing import DEFAULT_TOPOLOGY, Topology, topology, use_topology
from tests.kafka_broker import BrokerProxy, TansuBroker, free_port

# One key store for the run, as a deployment has one: every `tribe` process the tests start and every
# codec they build without a data directory of their own (tests/sealed.py) seal and open with it.
_KEYS = Path(tempfile.mkdtemp(prefix="tribe-test-keys-"))
os.environ["TRIBE_KEY_STORE"] = f"sqlite:///{_KEYS / 'keys.db'}"
os.environ["TRIBE_KEY_ENCRYPTION_KEY"] = base64.b64encode(b"key-encryption-key-of-the-tests!").decode()


@pytest.fixture
def install_topology() -> Iterator[Callable[[Topology], None]]:
    """Install partition counts for this test (they are process-wide); the defaults come back after it."""
    yield use_topology
    use_topology(DEFAULT_TOPOLOGY)


@pytest.fixture(autouse=True)
def _every_test_leaves_the_default_topology() -> Iterator[None]:
    yield
    left = topology()
    use_topology(DEFAULT_TOPOLOGY)
    assert left == DEFAULT_TOPOLOGY, f"the test left partition counts {left} installed: use install_topology"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One real (memory-only) Kafka broker for the whole run; tests share its topics."""
    broker = TansuBroker(tmp_path_factory.mktemp("tansu") / "broker.log").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def isolated_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of the test's own, for tests that compare against a log starting at offset 0."""
    broker = TansuBroker(tmp_path / "broker.log").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def proxied_kafka_broker(tmp_path: Path) -> Iterator[tuple[TansuBroker, BrokerProxy]]:
    """A broker that clients reach only through a proxy the test can cut and restore."""
    proxy = BrokerProxy(target_port=0, port=free_port())
    broker = TansuBroker(tmp_path / "broker.log", advertised_port=proxy.port)
    proxy.target_port = broker.port
    proxy.start()
    broker.start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()
