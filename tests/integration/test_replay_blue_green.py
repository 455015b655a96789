"""Blue/green rebuilds on the embedded default, under concurrent writes and reads."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import random
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from events.adapters.kafka_log import KafkaLog
from events.adapters.sqlite_log import SqliteLog
from events.log import Log
from events.routing import topology
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.processor import Projector
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW, View
from replay.parallel import process_helpers
from replay.rebuild import Helper, all_docs, catch_up, rebuild
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS, running_worker, wait_until_projecting
from tests.e2e.server import Server, running_server
from tests.integration.faulty_views import ShoutingTitles
from tests.integration.workload import burst
from tests.kafka_broker import TansuBroker
from tests.sealed import key_environment, records_of_events, sealed_codec
from tribe.bootstrap import helper_adapters
from tribe.settings import Settings

ARTICLES = 5


def tribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tribe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TRIBE_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", **key_environment()},
    )


async def _seed(http: aiohttp.ClientSession, url: str) -> tuple[list[str], list[str]]:
    tokens = []
    for name in ("ann", "ben", "cat"):
        async with http.post(
            f"{url}/api/users",
            json={"user": {"username": name, "email": f"{name}@example.com", "password": "long-enough-pw"}},
        ) as r:
            assert r.status == 201
            tokens.append((await r.json())["user"]["token"])
    slugs = []
    for i in range(ARTICLES):
        async with http.post(
            f"{url}/api/articles",
            json={"article": {"title": f"Article {i}", "description": "d", "body": "b", "tagList": ["cars"]}},
            headers={"Authorization": f"Token {tokens[i % 3]}"},
        ) as r:
            assert r.status == 201
            slugs.append((await r.json())["article"]["slug"])
    return tokens, slugs


async def _write(
    http: aiohttp.ClientSession,
    url: str,
    tokens: list[str],
    slugs: list[str],
    stop: asyncio.Event,
    count: list[int],
    accepted: tuple[int, ...],
) -> None:
    """Favorites and comments until stopped; `accepted` are the statuses a durable write may get."""
    while not stop.is_set():
        token, slug = random.choice(tokens), random.choice(slugs)
        action = random.choice(["favorite", "unfavorite", "comment"])
        headers = {"Authorization": f"Token {token}"}
        if action == "comment":
            request = http.post(
                f"{url}/api/articles/{slug}/comments", json={"comment": {"body": "vroom"}}, headers=headers
            )
        else:
            method = http.post if action == "favorite" else http.delete
            request = method(f"{url}/api/articles/{slug}/favorite", headers=headers)
        async with request as r:
            assert r.status in accepted, await r.text()
            count[0] += 1
        await asyncio.sleep(0.01)


async def _read(
    http: aiohttp.ClientSession, url: str, slugs: list[str], stop: asyncio.Event, failures: list[str], count: list[int]
) -> None:
    while not stop.is_set():
        async with http.get(f"{url}/api/articles?limit=50") as r:
            body = await r.json()
            if r.status != 200 or body["articlesCount"] != ARTICLES or len(body["articles"]) != ARTICLES:
                failures.append(f"list: {r.status} {body}")
        async with http.get(f"{url}/api/articles/{random.choice(slugs)}/comments") as r:
            if r.status != 200:
                failures.append(f"comments: {r.status}")
        count[0] += 1


async def _documents(store: SqliteStore, version: int) -> dict[str, dict[str, tuple[int, dict]]]:
    return {alias: await all_docs(store, ARTICLES_VIEW.physical(alias, version)) for alias in ARTICLES_VIEW.collections}


def _open_log(data: Path, log_url: str | None) -> Log:
    return KafkaLog(log_url, ONE_BROKER_OPTIONS) if log_url else SqliteLog(data / "log.db")


async def _clean_replay(data: Path, scratch: Path, log_url: str | None) -> dict[str, dict[str, tuple[int, dict]]]:
    """Every article document as a replay of the whole log into a fresh store produces it."""
    log, store = _open_log(data, log_url), SqliteStore(scratch / "clean.db")
    try:
        projector = Projector(store, sealed_codec(), ARTICLES_VIEW, 1)
        await projector.ensure_collections()
        await catch_up(log, projector)
        return await _documents(store, 1)
    finally:
        await log.close()
        await store.close()


async def _settled(data: Path, version: int, scratch: Path, log_url: str | None = None) -> tuple[dict, dict]:
    store = SqliteStore(data / "store.db")
    try:
        for _ in range(50):
            clean = await _clean_replay(data, scratch, log_url)
            docs = await _documents(store, version)
            if docs == clean:
                break
            await asyncio.sleep(0.2)
        return docs, clean
    finally:
        await store.close()


async def _rebuild_switch_and_rollback(server: Server, data: Path, tmp_path: Path, log_url: str | None) -> None:
    """The scenario on a running stack: rebuild under writes and reads, switch, roll back."""
    where = ["--data-dir", str(data)] + (["--log", log_url] if log_url else [])
    accepted = (200,) if log_url is None else (200, 202)
    live, rebuilt_version = ARTICLES_VIEW.version, ARTICLES_VIEW.version + 1
    async with aiohttp.ClientSession() as http:
        tokens, slugs = await _seed(http, server.url)
        stop_reads, failures, reads = asyncio.Event(), [], [0]
        readers = [asyncio.create_task(_read(http, server.url, slugs, stop_reads, failures, reads)) for _ in range(2)]

        stop_writes, writes = asyncio.Event(), [0]
        writer = asyncio.create_task(_write(http, server.url, tokens, slugs, stop_writes, writes, accepted))
        await asyncio.sleep(0.5)
        rebuilt = await asyncio.to_thread(tribe, "replay", "articles", "--verify", "--jobs", "2", *where)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert f"switched to v{rebuilt_version}" in rebuilt.stdout
        writes_at_switch = writes[0]
        await asyncio.sleep(0.5)
        stop_writes.set()
        await writer
        assert writes[0] > writes_at_switch, "writes stopped after the switch"
        docs, clean = await _settled(data, rebuilt_version, tmp_path / "clean-new", log_url)
        assert docs == clean, "the rebuilt version differs from a clean replay after the switch"

        status = json.loads((await asyncio.to_thread(tribe, "replay", "status", "--json", *where)).stdout)
        articles = next(v for v in status if v["view"] == "articles")
        assert articles["live_version"] == rebuilt_version
        assert [v["version"] for v in articles["versions"]] == [live, rebuilt_version]
        assert set(articles) == {"view", "live_version", "versions", "lag"}

        stop_writes = asyncio.Event()
        writer = asyncio.create_task(_write(http, server.url, tokens, slugs, stop_writes, writes, accepted))
        await asyncio.sleep(0.3)
        rolled = await asyncio.to_thread(tribe, "replay", "rollback", "articles", *where)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        await asyncio.sleep(0.5)
        stop_writes.set()
        await writer
        headers = {"Authorization": f"Token {tokens[1]}"}
        async with http.post(f"{server.url}/api/articles/{slugs[0]}/favorite", headers=headers) as r:
            assert r.status in accepted
            written = r.headers.get("X-Tribe-Position")  # none when the favorite was there already
        after = {"X-Tribe-After": written} if written else {}
        async with http.get(f"{server.url}/api/articles/{slugs[0]}", headers={**headers, **after}) as r:
            assert (await r.json())["article"]["favorited"] is True
        docs, clean = await _settled(data, live, tmp_path / "clean-old", log_url)
        assert docs == clean, "the old version differs from a clean replay after the rollback"

        stop_reads.set()
        await asyncio.gather(*readers)
        assert failures == [], failures[:5]
        assert reads[0] > 20 and writes[0] > 5
        assert sum(len(d) for d in clean.values()) > ARTICLES


async def test_rebuild_switch_and_rollback_under_concurrent_writes_and_reads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as server:
        await _rebuild_switch_and_rollback(server, data, tmp_path, None)


@pytest.mark.kafka
async def test_rebuild_switch_and_rollback_on_kafka_with_a_worker(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = isolated_kafka_broker.url
    with running_worker(url, data, tmp_path / "worker.log"), running_server(data, "--log", url) as server:
        await asyncio.to_thread(wait_until_projecting, server.url)
        await _rebuild_switch_and_rollback(server, data, tmp_path, url)


async def test_replay_refuses_what_would_lose_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    live, following = str(ARTICLES_VIEW.version), str(ARTICLES_VIEW.version + 1)
    with running_server(data):
        pass
    live_drop = tribe("replay", "drop", "articles", live, "--data-dir", str(data))
    assert live_drop.returncode != 0 and "is live" in live_drop.stderr
    nothing_older = tribe("replay", "rollback", "articles", "--data-dir", str(data))
    assert nothing_older.returncode != 0 and "no version older" in nothing_older.stderr
    dry = tribe("replay", "articles", "--dry-run", "--data-dir", str(data))
    assert dry.returncode == 0 and f"built (not switched) v{following}" in dry.stdout
    status = json.loads(tribe("replay", "status", "--json", "--data-dir", str(data)).stdout)
    assert next(v for v in status if v["view"] == "articles")["live_version"] == ARTICLES_VIEW.version
    assert tribe("replay", "drop", "articles", following, "--data-dir", str(data)).returncode == 0


async def test_a_rebuild_has_no_effect_outside_its_new_collections(tmp_path: Path) -> None:
    """Reducers do no I/O; a rebuild appends nothing and writes only the version it builds."""
    data = tmp_path / "data"
    with running_server(data) as server:
        async with aiohttp.ClientSession() as http:
            tokens, slugs = await _seed(http, server.url)
            async with http.post(
                f"{server.url}/api/articles/{slugs[0]}/comments",
                json={"comment": {"body": "hi @ann"}},
                headers={"Authorization": f"Token {tokens[1]}"},
            ) as r:
                assert r.status == 200
    log, store = SqliteLog(data / "log.db"), SqliteStore(data / "store.db")
    try:
        heads_before = await _heads(log)
        before = {c: await all_docs(store, c) for c in await store.collections()}
        result = await rebuild(log, store, sealed_codec(), NOTIFICATIONS_VIEW)
        live = NOTIFICATIONS_VIEW.version
        assert result.switched and result.version == live + 1
        assert await _heads(log) == heads_before
        after = {c: await all_docs(store, c) for c in await store.collections()}
        assert {c: after[c] for c in before} == before
        new = set(after) - set(before)
        assert new == {f"{alias}_v{live + 1}" for alias in NOTIFICATIONS_VIEW.collections}
        assert after[f"notifications_v{live + 1}"] == before[f"notifications_v{live}"]
    finally:
        await log.close()
        await store.close()


async def _heads(log: SqliteLog) -> dict[tuple[str, int], int]:
    return {(t, p): await log.end_offset(t, p) for t, n in topology().counts for p in range(n)}


async def test_verify_reports_what_a_changed_reducer_does_and_does_not_switch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as server:
        async with aiohttp.ClientSession() as http:
            await _seed(http, server.url)
    log, store = SqliteLog(data / "log.db"), SqliteStore(data / "store.db")
    try:
        changed_view = dataclasses.replace(ARTICLES_VIEW, reducer=ShoutingTitles())
        result = await rebuild(log, store, sealed_codec(), changed_view, verify=True)
        assert not result.switched and result.version == ARTICLES_VIEW.version + 1
        assert result.differences is not None and len(result.differences) == ARTICLES
        assert all(d.settled and d.collection == "articles" for d in result.differences)
        assert {d.rebuilt["title"] for d in result.differences} == {f"ARTICLE {i}" for i in range(ARTICLES)}
        assert (await store.aliases())["articles"] == ARTICLES_VIEW.physical("articles")
    finally:
        await log.close()
        await store.close()


@pytest.mark.parametrize("jobs", [2, 3])
async def test_a_rebuild_in_several_processes_equals_one_in_a_single_process(tmp_path: Path, jobs: int) -> None:
    """`--jobs`: spawned processes replay shares of the partitions into the same store."""
    codec = sealed_codec()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    settings = Settings.from_env().with_options(
        log_url=f"sqlite:///{tmp_path / 'log.db'}", store_url=f"sqlite:///{tmp_path / 'store.db'}"
    )
    try:
        await log.append(await records_of_events(codec, burst(3000, seed=jobs)))
        await install(store, (ARTICLES_VIEW,))
        alone = await rebuild(log, store, codec, ARTICLES_VIEW, switch=False)
        applied: list[int] = []

        def counted(helper: Helper) -> Helper:
            async def run(view: View, version: int, share: list[tuple[str, int]]) -> int:
                applied.append(await helper(view, version, share))
                return applied[-1]

            return run

        with process_helpers(functools.partial(helper_adapters, settings), jobs) as helpers:
            together = await rebuild(
                log, store, codec, ARTICLES_VIEW, switch=False, helpers=[counted(h) for h in helpers]
            )
        assert len(applied) == jobs - 1 and all(n > 0 for n in applied)
        assert together.events == alone.events > 2000
        for alias in ARTICLES_VIEW.collections:
            assert await all_docs(store, ARTICLES_VIEW.physical(alias, together.version)) == await all_docs(
                store, ARTICLES_VIEW.physical(alias, alone.version)
            )
        assert await store.checkpoint(ARTICLES_VIEW.projection_id(together.version)) == await store.checkpoint(
            ARTICLES_VIEW.projection_id(alone.version)
        )
    finally:
        await log.close()
        await store.close()
