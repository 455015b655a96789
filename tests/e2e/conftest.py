from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.requests import PORTS
from events.catalogue import FANOUT_ACTOR
from events.codec import EventCodec, UnknownSchema, actor_of
from events.routing import topology
from services.fanout_runner import CHECKPOINT, fanout_partitions
from tribe.bootstrap import create_app
from tribe.settings import Settings


class Api:
    """A test client over the real app on real SQLite files, with Conduit helpers."""

    def __init__(self, client: TestClient, data_dir: Path) -> None:
        self.client = client
        self.data_dir = data_dir

    async def register(self, username: str, password: str = "long-enough-pw") -> str:
        r = await self.client.post(
            "/api/users",
            json={"user": {"username": username, "email": f"{username}@example.com", "password": password}},
        )
        assert r.status == 201, await r.text()
        return (await r.json())["user"]["token"]

    async def publish(self, token: str, title: str = "A title", tags: list[str] | None = None) -> dict[str, Any]:
        r = await self.client.post(
            "/api/articles",
            json={"article": {"title": title, "description": "d", "body": "b", "tagList": tags or []}},
            headers=auth(token),
        )
        assert r.status == 201, await r.text()
        return (await r.json())["article"]

    async def log_size(self) -> int:
        """How many records clients appended, over every partition.

        The fan-out's own events (services/fanout.py: deliveries to timelines, appended by the server as
        it reacts to publications, follows and joins) are not counted: they follow from those writes.
        """
        log = self.client.app[PORTS].writer.log
        codec = EventCodec()  # reads only envelopes: no key needed
        count = 0
        for topic, n in topology().counts:
            for p in range(n):
                for entry in await log.read(topic, p, 0, await log.end_offset(topic, p)):
                    count += not _by_fanout(codec, entry.value)
        return count

    async def decided(self) -> None:
        """Wait until the fan-out has decided on every event the log holds."""
        ports = self.client.app[PORTS]
        deadline = time.monotonic() + 20
        while True:
            heads = await ports.writer.log.end_offsets(fanout_partitions())
            done = await ports.writer.progress.store.checkpoint(CHECKPOINT)
            if all(done.get(tp, 0) >= head for tp, head in heads.items()):
                return
            assert time.monotonic() < deadline, "the fan-out did not decide"
            await asyncio.sleep(0.02)


def _by_fanout(codec: EventCodec, value: bytes) -> bool:
    try:
        codec.writer_schema(value)
        return actor_of(value) == FANOUT_ACTOR
    except UnknownSchema:
        return False


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> Api:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    client = await aiohttp_client(create_app(settings))
    return Api(client, settings.data_dir)
