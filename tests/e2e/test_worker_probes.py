"""A Faust worker (`tribe worker --engine faust`) answers the probes on its HTTP port, as the kafka engine does.

test_prometheus.py has a real Prometheus scrape a worker of the default engine; here the Faust
engine's exposition is read with prometheus_client's parser: its batches, rebalances and lag are
counted, and it is ready once it folds the log.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from projections.views import VIEWS
from tests.e2e.kafka_stack import running_worker, wait_until_projecting
from tests.e2e.server import register_and_publish, running_server
from tests.e2e.test_probes import Samples, parse, value
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka

WAIT = 60.0


def series(samples: Samples, name: str) -> set[frozenset[tuple[str, str]]]:
    """The label sets of the name's series."""
    return {labels for n, labels in samples if n == name}


def lagging(samples: Samples) -> set[str]:
    """The views whose lag per partition the worker reports."""
    return {dict(labels)["view"] for labels in series(samples, "tribe_projection_lag_events")}


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as r:
        return r.status, await r.text()


async def test_a_faust_worker_answers_metrics_live_and_ready(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data, url = tmp_path / "data", isolated_kafka_broker.url
    with (
        running_worker(url, data, tmp_path / "worker.log", engine="faust") as worker,
        running_server(data, "--log", url) as server,
    ):
        probes = f"http://127.0.0.1:{worker.env['TRIBE_WORKER_PORT']}"
        wait_until_projecting(server.url)
        await register_and_publish(server.url, "faustian")
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, f"{probes}/health/live")
            assert (status, json.loads(body)) == (200, {"live": True})

            async def scraped() -> Samples:
                status, text = await get(http, f"{probes}/metrics")
                assert status == 200
                return parse(text)

            deadline = time.monotonic() + WAIT
            while not (value(samples := await scraped(), "tribe_projection_events_total", view="articles") >= 1
                       and lagging(samples) == {view.name for view in VIEWS}):
                assert time.monotonic() < deadline, sorted(n for n, _ in samples if n.startswith("tribe_"))
                await asyncio.sleep(0.5)
            assert value(samples, "tribe_projection_batch_seconds_count", view="articles") >= 1
            assert value(samples, "tribe_worker_rebalances_total", change="assigned") >= 1
            assert series(samples, "tribe_projection_lag_seconds") == series(samples, "tribe_projection_lag_events")
            assert samples[("tribe_projection_dead_letters", frozenset({("view", "articles")}))] == 0

            while (ready := await get(http, f"{probes}/health/ready"))[0] != 200:
                assert time.monotonic() < deadline, ready
                await asyncio.sleep(0.5)
