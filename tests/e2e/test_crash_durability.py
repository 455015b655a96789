"""Killing the server with SIGKILL loses no acknowledged write."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

import aiohttp

from events.adapters.sqlite_log import SqliteLog
from events.routing import ARTICLES, partitions
from projections.adapters.sqlite_store import SqliteStore
from tests.e2e.server import Server, register_and_publish, running_server
from tests.sealed import sealed_codec


async def _article_id(server: Server, slug: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/articles/{slug}") as r:
        assert r.status == 200
    log = SqliteLog(server_data(server) / "log.db")
    codec = sealed_codec()
    try:
        for partition in range(partitions(ARTICLES)):
            for event in await codec.decode_batch(e.value for e in await log.read(ARTICLES, partition, 0, 10)):
                if event.type == "ArticlePublished" and event.slug == slug:
                    return event.article_id
    finally:
        await log.close()
    raise AssertionError("article not in the log")


def server_data(server: Server) -> Path:
    return Path(server.args[server.args.index("--data-dir") + 1])


async def _hammer(url: str, token: str, article_id: str, acknowledged: list[str], stop: threading.Event) -> None:
    """Post views with client event ids until the server dies; remember what it acknowledged."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Token {token}"}) as http:
        n = 0
        while not stop.is_set():
            batch = [f"view-{n + i:08d}" for i in range(random.randint(1, 20))]
            n += len(batch)
            body = [{"type": "ArticleViewed", "article_id": article_id, "event_id": e} for e in batch]
            try:
                async with http.post(f"{url}/v1/events", json=body) as r:
                    if r.status == 202:
                        acknowledged.extend(batch)
            except aiohttp.ClientError:
                return


async def _log_event_ids(data_dir: Path) -> set[str]:
    log = SqliteLog(data_dir / "log.db")
    codec = sealed_codec()
    ids: set[str] = set()
    try:
        for partition in range(partitions(ARTICLES)):
            offset = 0
            while entries := await log.read(ARTICLES, partition, offset, 5000):
                ids |= {e.event_id for e in await codec.decode_batch(e.value for e in entries)}
                offset = entries[-1].position.offset + 1
    finally:
        await log.close()
    return ids


async def _projected_views(data_dir: Path, article_id: str) -> int:
    """The article's view count once the restarted server's projection has caught up with the log."""
    store = SqliteStore(data_dir / "store.db")
    try:
        views = -1
        for _ in range(100):
            views = (await store.get("articles", [article_id]))[article_id].body["views"]
            if views == sum(1 for e in await _log_event_ids(data_dir) if e.startswith("view-")):
                return views
            await asyncio.sleep(0.1)
        return views
    finally:
        await store.close()


async def test_sigkill_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acknowledged: list[str] = []
    with running_server(data) as server:
        token, slug = await register_and_publish(server.url, "crash")
        article_id = await _article_id(server, slug)
        for _ in range(3):
            stop = threading.Event()
            load = asyncio.create_task(_hammer(server.url, token, article_id, acknowledged, stop))
            await asyncio.sleep(random.uniform(0.3, 1.0))
            server.kill()
            stop.set()
            await load
            server.start()
        assert acknowledged, "the load never got an answer"
        in_log = await _log_event_ids(data)
        missing = set(acknowledged) - in_log
        assert not missing, f"{len(missing)} acknowledged events lost"
        views_in_log = sum(1 for e in in_log if e.startswith("view-"))
        assert views_in_log >= len(set(acknowledged))
        assert await _projected_views(data, article_id) == views_in_log
