"""`tribe serve --log kafka://...` with one `tribe worker`: the RealWorld collection, and the broker dying."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from events.adapters.kafka_log import KafkaLog
from events.log import Position
from events.routing import ARTICLES, partitions
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS, running_worker, wait_until_projecting
from tests.e2e.server import Server, register_and_publish, running_server
from tests.e2e.test_newman import assert_collection_passed, run_collection
from tests.kafka_broker import BrokerProxy, TansuBroker
from tests.sealed import sealed_codec

pytestmark = pytest.mark.kafka

DELIVERY_TIMEOUT = 2.0


@pytest.mark.newman
def test_realworld_collection_passes_on_kafka_with_one_worker(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = isolated_kafka_broker.url
    with running_worker(url, data, tmp_path / "worker.log"), running_server(data, "--log", url) as server:
        wait_until_projecting(server.url)
        first = run_collection(server, tmp_path / "first.json")
        second = run_collection(server, tmp_path / "second.json")
    for summary in (first, second):
        assert_collection_passed(summary)


async def _article_id(log: KafkaLog, slug: str) -> str:
    codec = sealed_codec()
    for partition in range(partitions(ARTICLES)):
        for event in await codec.decode_batch(e.value for e in await log.read(ARTICLES, partition, 0, 100)):
            if event.type == "ArticlePublished" and event.slug == slug:  # type: ignore[attr-defined]
                return event.article_id  # type: ignore[attr-defined]
    raise AssertionError("the article is not in the log")


class Outcome:
    def __init__(self) -> None:
        self.acknowledged: dict[str, Position] = {}
        self.statuses: list[tuple[float, int]] = []
        self.without_retry_after = 0
        self.slowest = 0.0


async def _load(url: str, token: str, article_id: str, outcome: Outcome, client: int, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Token {token}"}) as http:
        n = 0
        while not stop.is_set():
            ids = [f"c{client}-{n + i:07d}" for i in range(5)]
            n += len(ids)
            body = [{"type": "ArticleViewed", "article_id": article_id, "event_id": e} for e in ids]
            started = time.monotonic()
            async with http.post(f"{url}/v1/events", json=body) as r:
                outcome.slowest = max(outcome.slowest, time.monotonic() - started)
                outcome.statuses.append((time.monotonic(), r.status))
                if r.status == 202:
                    for item in (await r.json())["events"]:
                        outcome.acknowledged[item["event_id"]] = Position.parse(item["position"])
                elif r.status == 503:
                    if int(r.headers.get("Retry-After", "0")) < 1:
                        outcome.without_retry_after += 1
                    await asyncio.sleep(0.2)
            await asyncio.sleep(0.01)


async def test_broker_down_under_load_gets_503_with_retry_after_and_recovers_without_restart(
    proxied_kafka_broker: tuple[TansuBroker, BrokerProxy], tmp_path: Path
) -> None:
    broker, proxy = proxied_kafka_broker
    data = tmp_path / "data"
    env = {"TRIBE_KAFKA_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT)}
    log = KafkaLog(broker.url, ONE_BROKER_OPTIONS)
    with running_worker(broker.url, data, tmp_path / "worker.log"):
        server = Server(data, "--log", broker.url, env=env).start()
        try:
            await asyncio.get_running_loop().run_in_executor(None, wait_until_projecting, server.url)
            token, slug = await register_and_publish(server.url, "outage")
            article_id = await _article_id(log, slug)
            outcome, stop = Outcome(), asyncio.Event()
            clients = [asyncio.create_task(_load(server.url, token, article_id, outcome, c, stop)) for c in range(4)]
            await asyncio.sleep(2)
            cut_at = time.monotonic()
            proxy.cut()
            await asyncio.sleep(6)
            proxy.restore()
            restored_at = time.monotonic()
            await asyncio.sleep(12)
            stop.set()
            ended = time.monotonic()
            await asyncio.gather(*clients)
        finally:
            server.stop()
        counts = {s: sum(1 for _, x in outcome.statuses if x == s) for s in {x for _, x in outcome.statuses}}
        print(
            f"\nbroker outage: responses {counts}, acknowledged events {len(outcome.acknowledged)}, "
            f"slowest {outcome.slowest:.2f} s"
        )
        statuses = set(counts)
        assert statuses <= {202, 503}, statuses
        assert outcome.without_retry_after == 0
        assert any(s == 503 for at, s in outcome.statuses if cut_at < at < restored_at), "the outage went unnoticed"
        assert any(s == 202 for at, s in outcome.statuses if at < cut_at)
        # Recovered without a restart: the last seconds of load were all acknowledged.
        tail = [s for at, s in outcome.statuses if at > ended - 3]
        assert tail and set(tail) == {202}, tail
        assert outcome.slowest < DELIVERY_TIMEOUT + 3.0
        # Every acknowledged event is in the log, where the answer said.
        codec = sealed_codec()
        at_position = {}
        for topic, partition in {(p.topic, p.partition) for p in outcome.acknowledged.values()}:
            offset = 0
            while entries := await log.read(topic, partition, offset, 5000):
                decoded = await codec.decode_batch(e.value for e in entries)
                at_position.update({e.position: d.event_id for e, d in zip(entries, decoded, strict=True)})
                offset = entries[-1].position.offset + 1
        assert len(outcome.acknowledged) > 100
        assert {event_id: at_position.get(p) for event_id, p in outcome.acknowledged.items()} == {
            event_id: event_id for event_id in outcome.acknowledged
        }
    await log.close()
