"""One follower of the log per process feeds every open stream, and runs only while one is open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from api.v1_stream import STREAMS
from events.adapters.sqlite_log import SqliteLog
from events.log import Entry
from tests.e2e.conftest import Api, auth
from tribe.bootstrap import create_app
from tribe.settings import Settings


class CountedFollows(SqliteLog):
    """The embedded log, counting the followers it starts."""

    follows = 0

    def follow(self, starts: dict[tuple[str, int], int]) -> AsyncIterator[list[Entry]]:
        CountedFollows.follows += 1
        return super().follow(starts)


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> Api:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, stream_limit=3)
    CountedFollows.follows = 0
    client = await aiohttp_client(create_app(settings, log=CountedFollows(tmp_path / "data" / "log.db")))
    return Api(client, settings.data_dir)


async def next_data(response: ClientResponse) -> str:
    while True:
        line = (await response.content.readline()).decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            return line.removeprefix("data: ").strip()


async def test_every_stream_of_a_process_is_fed_by_one_follower(api: Api) -> None:
    reader = await api.register("reader")
    writer = await api.register("writer")
    r = await api.client.post("/api/profiles/writer/follow", headers=auth(reader))
    assert r.status == 200
    r = await api.client.post("/v1/stream/tickets", headers=auth(reader))
    ticket = (await r.json())["ticket"]

    streams = [await api.client.get(f"/v1/stream?ticket={ticket}") for _ in range(3)]
    assert [s.status for s in streams] == [200, 200, 200]
    article = await api.publish(writer, "For all three")
    assert all(article["title"] in data for data in await asyncio.gather(*(next_data(s) for s in streams)))
    assert CountedFollows.follows == 1
    for s in streams:
        s.close()

    # The last stream out stopped the follower; the next stream starts one again.
    for _ in range(300):  # until the server has seen the three go
        if not api.client.app[STREAMS].open:
            break
        await asyncio.sleep(0.1)
    again = await api.client.get(f"/v1/stream?ticket={ticket}")
    assert again.status == 200
    await api.publish(writer, "For the next one")
    assert "For the next one" in await next_data(again)
    assert CountedFollows.follows == 2
    again.close()
