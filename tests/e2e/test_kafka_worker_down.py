"""`tribe serve` on Kafka: Conduit clients keep working while no worker projects; weak topics stop it at start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from events.adapters.kafka_log import TOPIC_CONFIG
from events.routing import ARTICLES, partitions
from tests.e2e.kafka_stack import wait_until_projecting, worker_process
from tests.e2e.server import Server, TribeProcess, register_and_publish, running_server
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


async def test_conduit_writes_answer_with_their_bodies_while_no_worker_projects(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data, url = tmp_path / "data", isolated_kafka_broker.url
    worker = worker_process(url, data, tmp_path / "worker.log").start()
    env = {"TRIBE_WRITE_WAIT": "0.3"}
    with running_server(data, "--log", url, env=env) as server:
        try:
            wait_until_projecting(server.url)
            ann, slug = await register_and_publish(server.url, "ann")
            ben, _ = await register_and_publish(server.url, "ben")
        finally:
            worker.kill()
        async with aiohttp.ClientSession(base_url=server.url) as http:
            as_ann, as_ben = {"Authorization": f"Token {ann}"}, {"Authorization": f"Token {ben}"}
            article = {"article": {"title": "Written blind", "description": "d", "body": "b", "tagList": ["v8"]}}
            async with http.post("/api/articles", json=article, headers=as_ann) as r:
                assert r.status == 201, await r.text()
                assert r.headers["X-Tribe-Read-Model"] == "behind"
                assert (await r.json())["article"]["title"] == "Written blind"
            async with http.post(f"/api/articles/{slug}/favorite", headers=as_ben) as r:
                assert r.status == 200, await r.text()
                assert r.headers["X-Tribe-Read-Model"] == "behind"
                shown = (await r.json())["article"]
                assert (shown["favorited"], shown["favoritesCount"]) == (True, 1)
            async with http.post(
                f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=as_ben
            ) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["comment"]["author"]["username"] == "ben"
            async with http.post("/api/profiles/ann/follow", headers=as_ben) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["profile"]["following"] is True
            async with http.put(f"/api/articles/{slug}", json={"article": {"body": "edited"}}, headers=as_ann) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["article"]["body"] == "edited"
            new_user = {"user": {"username": "cat", "email": "cat@example.com", "password": "long-enough-pw"}}
            async with http.post("/api/users", json=new_user) as r:
                assert r.status == 202, await r.text()  # the log decides who gets the name: no account to show yet


async def test_a_server_refuses_a_topic_with_fewer_replicas_than_configured_in_one_line(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": isolated_kafka_broker.bootstrap})
    for future in admin.create_topics(
        [NewTopic(ARTICLES, partitions(ARTICLES), 1, config=dict(TOPIC_CONFIG))]
    ).values():
        future.result(10)
    server = Server(tmp_path / "data", "--log", isolated_kafka_broker.url, env={"TRIBE_KAFKA_REPLICATION_FACTOR": "2"})
    TribeProcess.start(server)
    assert server.process is not None
    code = await asyncio.to_thread(server.process.wait, 60)
    lines = [line for line in server.output().splitlines() if line.startswith("tribe: ")]
    assert code == 2, server.output()[-2000:]
    assert len(lines) == 1 and ARTICLES in lines[0] and "replicas" in lines[0], server.output()[-2000:]
