"""/v1/stream on Kafka: `tribe serve --log kafka://...` (one follower consumer for every stream) and one worker."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.e2e.kafka_stack import running_worker, wait_until_projecting
from tests.e2e.server import running_server
from tests.e2e.stream_client import Client
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


async def test_streams_receive_events_from_kafka_and_resume_from_their_last_id(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = isolated_kafka_broker.url
    patient = {"TRIBE_WRITE_WAIT": "10"}  # every write here must answer from the read model (201)
    with running_worker(url, data, tmp_path / "worker.log"), running_server(data, "--log", url, env=patient) as server:
        wait_until_projecting(server.url)
        async with aiohttp.ClientSession() as http:
            client = Client(http, server.url)
            sam, _ = await client.register("sam")
            ben, ben_id = await client.register("ben")
            await client.call("POST", "/api/profiles/ben/follow", sam)
            _, sams_slug, _ = await client.publish(sam, "Sam's")

            ticket = await client.ticket(sam)
            async with client.stream(ticket) as first, client.stream(ticket) as second:
                bens, _, _ = await client.publish(ben, "From Kafka")
                for sse in (first, second):  # two streams, fed by the process's one follower
                    feed = await sse.next()
                    assert (feed.event, feed.data["article_id"], feed.data["author_id"]) == ("feed", bens, ben_id)
                await client.call("POST", f"/api/articles/{sams_slug}/favorite", ben)
                bump = await first.next()
                assert (bump.event, bump.data["kind"], bump.data["actor_id"]) == ("notification", "bump", ben_id)

            after_close, _, _ = await client.publish(ben, "While sam was away")
            async with client.stream(await client.ticket(sam), bump.id) as resumed:
                missed = await resumed.next()
                assert missed.data["article_id"] == after_close
