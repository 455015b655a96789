"""The classifier in a Kafka worker, on either engine: `tribe serve --log kafka://...` and one `tribe worker` that
judges comments."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.kafka_stack import running_worker, wait_until_projecting
from tests.e2e.server import running_server
from tests.e2e.test_kafka_v1 import Client
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("engine", ["kafka", "faust"])
async def test_a_kafka_worker_hides_a_comment_holding_a_listed_word_and_a_moderator_restores_it(
    engine: str, isolated_kafka_broker: TansuBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIBE_MODERATION_WORDS", "lemon")  # the worker's and the server's environment
    monkeypatch.setenv("TRIBE_MODERATORS", "mia")
    data, url = tmp_path / "data", isolated_kafka_broker.url
    worker = running_worker(url, data, tmp_path / "worker.log", engine=engine)
    with worker, running_server(data, "--log", url) as server:
        wait_until_projecting(server.url)
        async with aiohttp.ClientSession() as http:
            c = Client(http, server.url)
            ann, ben, mia = [await c.register(n) for n in ("ann", "ben", "mia")]
            article = await c.call(
                "POST", "/api/articles", ann, {"article": {"title": "Tarts", "description": "d", "body": "b"}}
            )
            slug = article["article"]["slug"]
            posted = await c.call("POST", f"/api/articles/{slug}/comments", ben, {"comment": {"body": "LEMON pie"}})
            comment_id = posted["comment"]["id"]

            async def bodies() -> list[str]:
                shown = await c.call("GET", f"/api/articles/{slug}/comments", ann)
                return [x["body"] for x in shown["comments"]]

            deadline = time.monotonic() + 60
            while await bodies() == ["LEMON pie"]:
                assert time.monotonic() < deadline, "the worker's classifier did not hide the comment"
                await asyncio.sleep(0.2)
            assert await bodies() == []
            article_id = (await c.call("GET", "/v1/moderation/queue?state=hidden", mia))["items"][0]["article_id"]
            decision = {
                "target_kind": "comment",
                "article_id": article_id,
                "comment_id": comment_id,
                "action": "restore",
                "reason": "a fruit",
            }
            await c.call("POST", "/v1/moderation/decisions", mia, decision)
            assert await bodies() == ["LEMON pie"]
