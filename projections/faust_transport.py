"""A Faust app whose consumer waits at most `fetch_wait` seconds in a fetch.

Faust's aiokafka driver fixes the worker consumer's fetch.max.wait at 1,500 ms. A Kafka broker
answers a waiting fetch as soon as data arrives, so there the value is only the idle poll
period; the Tansu broker answers only when the wait runs out, and every event then waited
~600 ms on average before a worker saw it (measured with librdkafka too: 622 ms median at
1,500 ms, 23 ms at 100 ms). A shorter wait costs an empty fetch per wait when idle.
The default stays 1.5 s (`TRIBE_KAFKA_FETCH_WAIT`); the benchmark's workers on Tansu use 0.1 s.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


def app_with_fetch_wait(fetch_wait: float, *args: Any, **kwargs: Any) -> faust.App:
    """`faust.App(*args, **kwargs)` whose Kafka consumer's fetches wait at most `fetch_wait` seconds."""
    wait_ms = max(1, int(fetch_wait * 1000))

    class WaitingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = wait_ms  # read by AIOKafkaConsumer.start() to build its fetcher
            return consumer

    class WaitingConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            return WaitingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class WaitingTransport(faust_aiokafka.Transport):
        Consumer = WaitingConsumer

    class App(faust.App):
        def _new_transport(self) -> TransportT:
            return WaitingTransport(self.conf.broker_consumer, self)  # as faust.App does: the loop resolves lazily

    return App(*args, **kwargs)
