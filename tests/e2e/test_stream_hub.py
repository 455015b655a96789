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
from events.log import Entry, LogUnavailable
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


class FailsOnce(SqliteLog):
    """The embedded log, whose first follower fails at its second batch (a disk error, say)."""

    failed = False

    async def follow(self, starts: dict[tuple[str, int], int]) -> AsyncIterator[list[Entry]]:
        batches = 0
        async for batch in super().follow(starts):
            batches += 1
            if batches == 2 and not FailsOnce.failed:
                FailsOnce.failed = True
                raise LogUnavailable("the log cannot read (injected)")
            yield batch


async def next_message(response: ClientResponse) -> tuple[str, str]:
    """The next message's id and data."""
    event_id = ""
    while True:
        line = (await response.content.readline()).decode()
        assert line, "the stream ended"
        if line.startswith("id: "):
            event_id = line.removeprefix("id: ").strip()
        if line.startswith("data: "):
            return event_id, line.removeprefix("data: ").strip()


async def test_a_stream_the_log_fails_under_ends_and_resumes_from_its_last_id_without_a_gap(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    FailsOnce.failed = False
    api = Api(await aiohttp_client(create_app(settings, log=FailsOnce(tmp_path / "data" / "log.db"))), tmp_path)
    reader, writer = await api.register("reader"), await api.register("writer")
    assert (await api.client.post("/api/profiles/writer/follow", headers=auth(reader))).status == 200
    ticket = (await (await api.client.post("/v1/stream/tickets", headers=auth(reader))).json())["ticket"]

    stream = await api.client.get(f"/v1/stream?ticket={ticket}")
    await api.publish(writer, "Before the failure")
    last_id, data = await next_message(stream)
    assert "Before the failure" in data
    await api.publish(writer, "Written as the log failed")
    assert (await stream.content.read()).strip() == b""  # the rest of its last message, then its end
    stream.close()

    resumed = await api.client.get(f"/v1/stream?ticket={ticket}", headers={"Last-Event-ID": last_id})
    assert resumed.status == 200
    await api.publish(writer, "After the resume")
    titles = [(await next_message(resumed))[1] for _ in range(2)]
    assert "Written as the log failed" in titles[0] and "After the resume" in titles[1]
    resumed.close()
