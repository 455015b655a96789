"""The DriveTribe endpoints on the Kafka runtime: `tribe serve --log kafka://...` and one `tribe worker`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.kafka_stack import running_worker, wait_until_projecting
from tests.e2e.server import running_server
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka


class Client:
    """Calls that carry each write's position into the next read (read-your-writes across the worker)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.after: str | None = None

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)
    ) -> Any:
        headers = {"Authorization": f"Token {token}"} if token else {}
        if self.after and method == "GET":
            headers["X-Tribe-After"] = self.after
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=headers) as r:
            assert r.status in ok, (method, path, r.status, await r.text())
            self.after = r.headers.get("X-Tribe-Position", self.after)
            return await r.json() if r.content_type == "application/json" else None

    async def register(self, name: str) -> str:
        body = {"user": {"username": name, "email": f"{name}@example.com", "password": "long-enough-pw"}}
        await self.call("POST", "/api/users", body=body)
        login = {"user": {"email": f"{name}@example.com", "password": "long-enough-pw"}}
        return (await self.call("POST", "/api/users/login", body=login, ok=(200,)))["user"]["token"]


async def test_tribes_cards_feed_notifications_stats_trending_search_and_blocks_on_kafka(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = isolated_kafka_broker.url
    # A generous write wait: on a loaded machine the worker may take over the default 2 s, and
    # this test asserts on the read model a write answers from, not on the 202 fallback.
    patient = {"TRIBE_WRITE_WAIT": "10"}
    with running_worker(url, data, tmp_path / "worker.log"), running_server(data, "--log", url, env=patient) as server:
        wait_until_projecting(server.url)
        async with aiohttp.ClientSession() as http:
            c = Client(http, server.url)
            ann, ben, cat = [await c.register(n) for n in ("ann", "ben", "cat")]

            tribe_id = (
                await c.call("POST", "/v1/tribes", ann, {"name": "Petrolheads", "description": "V8s"}, ok=(201,))
            )["tribe"]["id"]
            await c.call("POST", f"/v1/tribes/{tribe_id}/join", ben)
            card = await c.call(
                "POST",
                "/v1/articles",
                ann,
                {"title": "Tall guy", "body": "Jeremy is tall", "tags": ["cars"], "tribe_id": tribe_id},
                ok=(201,),
            )
            article_id = card["article"]["id"]
            slug = card["article"]["slug"]
            await c.call(
                "POST",
                "/v1/events",
                ben,
                [
                    {"type": "ArticleBumped", "article_id": article_id},
                    {"type": "ArticleViewed", "article_id": article_id, "event_id": "kafka-view-0001"},
                ],
            )
            await c.call(
                "POST",
                "/v1/events",
                ben,
                [{"type": "ArticleViewed", "article_id": article_id, "event_id": "kafka-view-0001"}],
            )
            await c.call("POST", "/v1/events", cat, [{"type": "ArticleBumped", "article_id": article_id}])
            await c.call("POST", f"/api/articles/{slug}/comments", ben, {"comment": {"body": "nice one @cat"}})

            shown = (await c.call("GET", f"/v1/articles/{article_id}"))["article"]
            assert shown["counts"] == {"views": 1, "comments": 1, "bumps": 2}
            assert shown["tribe"] == {"id": tribe_id, "name": "Petrolheads"}
            tribe_now = (await c.call("GET", f"/v1/tribes/{tribe_id}"))["tribe"]
            assert (tribe_now["member_count"], tribe_now["article_count"]) == (2, 1)

            feed = await c.call("GET", "/v1/feed", ben)
            assert [item["id"] for item in feed["items"]] == [article_id]
            notes = await c.call("GET", "/v1/users/ann/notifications", ann)
            kinds = {n["kind"]: n for n in notes["notifications"]}
            assert kinds["bump"]["actor_count"] == 2 and "1 other bumped" in kinds["bump"]["text"]
            assert notes["unread_count"] == 2
            await c.call("GET", "/v1/users/ann/notifications", ben, ok=(403,))
            mention = await c.call("GET", "/v1/users/cat/notifications", cat)
            assert [n["kind"] for n in mention["notifications"]] == ["mention"]
            await c.call("POST", "/v1/notifications/read", ann)
            assert (await c.call("GET", "/v1/users/ann/notifications", ann))["unread_count"] == 0

            stats = (await c.call("GET", "/v1/users/ann/stats"))["stats"]
            assert stats == {"followers": 0, "following": 0, "articles": 1, "bumps_received": 2}
            trending = await c.call("GET", "/v1/trending?window=1h")
            assert trending["articles"][0]["article"]["id"] == article_id and trending["articles"][0]["score"] == 3
            assert (await c.call("GET", "/v1/search/articles?q=jeremy"))["articles"][0]["id"] == article_id
            assert [u["username"] for u in (await c.call("GET", "/v1/search/users?prefix=ca"))["users"]] == ["cat"]
            assert (await c.call("GET", "/v1/search/tribes?q=petrolheads"))["tribes"][0]["id"] == tribe_id

            await c.call("POST", "/v1/users/ben/block", ann)
            await c.call("GET", "/v1/users/ann/stats")
            await c.call("POST", f"/api/articles/{slug}/comments", ben, {"comment": {"body": "again"}}, ok=(403,))
            await c.call("POST", "/api/profiles/ann/follow", ben, ok=(403,))
