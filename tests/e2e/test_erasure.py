"""Account deletion on both runtimes, checked the way a user and an auditor meet it.

After `DELETE /api/user`, no API answer, no byte of the store's files and no byte of the log
holds the user's e-mail, bio, or the unique words of their article and comment; the username and
e-mail are free again; and a replay of every view from the log gives the documents the live
views hold. The embedded runtime keeps its log in a file; on Kafka the test reads every record of
every topic back from the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from events.adapters.kafka_log import KafkaLog
from events.adapters.sqlite_log import SqliteLog
from events.log import Log
from events.routing import topology
from projections.adapters.sqlite_store import SqliteStore
from projections.store import Filter, Query
from tests.e2e.kafka_stack import ONE_BROKER_OPTIONS, running_worker, wait_until_projecting
from tests.e2e.server import TribeProcess, running_server
from tests.integration.projection_check import differences, documents, replay_from_zero, wait_caught_up
from tests.kafka_broker import TansuBroker

PASSWORD = "long-enough-pw"


@dataclass(frozen=True)
class Secrets:
    name: str
    email: str
    bio: str
    article_word: str
    comment_word: str
    report_word: str

    @classmethod
    def new(cls) -> Secrets:
        n = str(time.time_ns())[-9:]
        return cls(f"eraseme{n}", f"eraseme{n}@private.example", f"biography{n}xq", f"zanzibarquux{n}",
                   f"kumquatique{n}", f"grievanceword{n}")

    def values(self) -> list[bytes]:
        return [v.encode() for v in (self.email, self.bio, self.article_word, self.comment_word, self.report_word)]


@dataclass
class Runtime:
    url: str
    data: Path
    log: Log
    log_bytes: Callable[[], Awaitable[bytes]]


def _held_in(data: bytes, secrets: Secrets) -> list[str]:
    return [v.decode() for v in secrets.values() if v.lower() in data.lower()]


def _store_bytes(data: Path) -> bytes:
    """Every byte of the store's files (the database, its WAL and shared memory)."""
    return _files_bytes(data, "store.db")


def _files_bytes(data: Path, name: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data.iterdir()) if p.name.startswith(name))


async def _sqlite_log_bytes(data: Path) -> bytes:
    return await asyncio.to_thread(_files_bytes, data, "log.db")


async def _kafka_log_bytes(log: Log) -> bytes:
    """Every key and value the broker holds, read back from offset 0 of every partition."""
    chunks = []
    for topic, count in topology().counts:
        for partition in range(count):
            offset = 0
            while entries := await log.read(topic, partition, offset, 5000):
                chunks += [e.key + e.value for e in entries]
                offset = entries[-1].position.offset + 1
    return b"".join(chunks)


@contextlib.asynccontextmanager
async def embedded(tmp_path: Path) -> AsyncIterator[Runtime]:
    data = tmp_path / "data"
    with running_server(data) as server:
        log = SqliteLog(data / "log.db")
        try:
            await _until_up(server.url)
            yield Runtime(server.url, data, log, lambda: _sqlite_log_bytes(data))
        finally:
            await log.close()


@contextlib.asynccontextmanager
async def on_kafka(broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Runtime]:
    data = tmp_path / "data"
    fast = {"TRIBE_KAFKA_DELIVERY_TIMEOUT": "2"}  # the erasure's grace outlasts it: keep the test short
    with (
        running_worker(broker.url, data, tmp_path / "worker.log", fast),
        running_server(data, "--log", broker.url, env=fast) as server,
    ):
        await asyncio.get_running_loop().run_in_executor(None, wait_until_projecting, server.url)
        log = KafkaLog(broker.url, ONE_BROKER_OPTIONS)
        await log.start()
        try:
            yield Runtime(server.url, data, log, lambda: _kafka_log_bytes(log))
        finally:
            await log.close()


async def test_an_erased_user_leaves_nothing_on_the_embedded_runtime(tmp_path: Path) -> None:
    async with embedded(tmp_path) as runtime:
        await _erase_and_check(runtime, tmp_path)


@pytest.mark.kafka
async def test_an_erased_user_leaves_nothing_on_kafka(isolated_kafka_broker: TansuBroker, tmp_path: Path) -> None:
    async with on_kafka(isolated_kafka_broker, tmp_path) as runtime:
        await _erase_and_check(runtime, tmp_path)


async def _erase_and_check(runtime: Runtime, tmp_path: Path) -> None:
    s, url = Secrets.new(), runtime.url
    async with aiohttp.ClientSession() as http:
        other_name = "other" + s.name.removeprefix("eraseme")
        other = await _register(http, url, other_name, f"{other_name}@example.com")
        mine = await _register(http, url, s.name, s.email)
        assert (await _call(http, "PUT", f"{url}/api/user", mine, json={"user": {"bio": s.bio}}))[0] == 200
        others_slug = await _publish(http, url, other, "Other's post", "d", "b", [])
        my_slug = await _publish(http, url, mine, f"On {s.article_word}", f"all {s.article_word}", s.article_word,
                                 [s.article_word])
        comment = {"comment": {"body": f"a {s.comment_word}"}}
        assert (await _call(http, "POST", f"{url}/api/articles/{others_slug}/comments", mine, json=comment))[0] == 200
        assert (await _call(http, "POST", f"{url}/api/articles/{others_slug}/favorite", mine))[0] == 200
        assert (await _call(http, "POST", f"{url}/api/profiles/{other_name}/follow", mine))[0] == 200
        assert (await _call(http, "POST", f"{url}/api/articles/{my_slug}/favorite", other))[0] == 200
        await _caught_up(runtime)
        for target in ({"target_kind": "article", "article_id": await _article_id(runtime, others_slug)},
                       {"target_kind": "user", "username": other_name}):
            report = {**target, "reason": "spam", "note": f"a {s.report_word} here"}
            status, text = await _call(http, "POST", f"{url}/v1/reports", mine, json=report)
            assert status == 201, text
        # Before: the store holds every value (the checks below are not vacuous); the log holds none.
        await _caught_up(runtime)
        assert sorted(_held_in(_store_bytes(runtime.data), s)) == sorted(v.decode() for v in s.values())
        assert _held_in(await runtime.log_bytes(), s) == []

        wrong = {"user": {"password": "not-it-at-all"}}
        assert (await _call(http, "DELETE", f"{url}/api/user", mine, json=wrong))[0] == 401
        right = {"user": {"password": PASSWORD}}
        assert (await _call(http, "DELETE", f"{url}/api/user", mine, json=right))[0] == 204

        leaks = await _until_forgotten(runtime.data, s)
        assert leaks == [], f"the store still holds {leaks} after the erasure"
        assert _held_in(await runtime.log_bytes(), s) == []
        reads = [
            f"/api/profiles/{s.name}", f"/api/articles/{my_slug}", "/api/articles", f"/api/articles?author={s.name}",
            f"/api/articles?tag={s.article_word}", f"/api/articles/{others_slug}/comments",
            f"/api/articles/{others_slug}", "/api/tags", f"/v1/search?q={s.article_word}", "/v1/trending",
            "/api/articles/feed", "/v1/notifications",
        ]
        for path in reads:
            status, text = await _call(http, "GET", f"{url}{path}", other)
            assert status < 500, (path, status, text)
            held = _held_in(text.encode(), s) + ([s.name] if s.name in text else [])
            assert held == [], (path, held)
        assert (await _call(http, "GET", f"{url}/api/user", mine))[0] == 401
        credentials = {"user": {"email": s.email, "password": PASSWORD}}
        assert (await _call(http, "POST", f"{url}/api/users/login", json=credentials))[0] == 401
        await _register(http, url, s.name, s.email)  # the username and the e-mail are free again
    await _caught_up(runtime)
    await _replay_matches(runtime, tmp_path / "replay.db")


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kw: object
) -> tuple[int, str]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kw) as r:  # type: ignore[arg-type]
        return r.status, await r.text()


async def _register(http: aiohttp.ClientSession, url: str, name: str, email: str) -> str:
    """A new user's token, once the users view lets them log in."""
    status, text = await _call(http, "POST", f"{url}/api/users",
                               json={"user": {"username": name, "email": email, "password": PASSWORD}})
    assert status in (201, 202), text
    credentials = {"user": {"email": email, "password": PASSWORD}}
    for _ in range(200):
        async with http.post(f"{url}/api/users/login", json=credentials) as r:
            if r.status == 200:
                return str((await r.json())["user"]["token"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} could never log in")


async def _publish(
    http: aiohttp.ClientSession, url: str, token: str, title: str, description: str, body: str, tags: list[str]
) -> str:
    article = {"article": {"title": title, "description": description, "body": body, "tagList": tags}}
    async with http.post(f"{url}/api/articles", json=article, headers={"Authorization": f"Token {token}"}) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["article"]["slug"])


async def _article_id(runtime: Runtime, slug: str) -> str:
    store = SqliteStore(runtime.data / "store.db")
    try:
        page = await store.search("articles", Query(filters=(Filter("slug", (slug,)),), size=1))
        return str(page.docs[0].body["article_id"])
    finally:
        await store.close()


async def _until_up(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/health/live") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("the server never answered")


async def _caught_up(runtime: Runtime) -> None:
    store = SqliteStore(runtime.data / "store.db")
    try:
        await wait_caught_up(runtime.log, store, 60)
    finally:
        await store.close()


async def _until_forgotten(data: Path, secrets: Secrets, tries: int = 240) -> list[str]:
    """What the store's files still hold, once they hold nothing or after `tries` looks 0.25 s apart."""
    leaks = _held_in(_store_bytes(data), secrets)
    for _ in range(tries):
        if not leaks:
            break
        await asyncio.sleep(0.25)
        leaks = _held_in(_store_bytes(data), secrets)
    return leaks


async def _replay_matches(runtime: Runtime, replay_path: Path) -> None:
    live = SqliteStore(runtime.data / "store.db")
    try:
        replayed = await replay_from_zero(runtime.log, replay_path)
        try:
            assert differences(await documents(live), await documents(replayed)) == []
        finally:
            await replayed.close()
    finally:
        await live.close()


async def test_an_erasure_while_a_replay_runs_leaves_nothing_in_either_version(tmp_path: Path) -> None:
    """`tribe replay articles` builds a new version while the server serves it and the user is erased."""
    s = Secrets.new()
    async with embedded(tmp_path) as runtime, aiohttp.ClientSession() as http:
        url = runtime.url
        mine = await _register(http, url, s.name, s.email)
        assert (await _call(http, "PUT", f"{url}/api/user", mine, json={"user": {"bio": s.bio}}))[0] == 200
        slug = await _publish(http, url, mine, f"On {s.article_word}", "d", "b", [])
        await _caught_up(runtime)
        article_id = await _article_id(runtime, slug)
        views = [{"type": "ArticleViewed", "article_id": article_id, "event_id": f"view-{n:06d}"} for n in range(3000)]
        for start in range(0, len(views), 500):  # a log long enough for the replay to take a while
            status, text = await _call(http, "POST", f"{url}/v1/events", mine, json=views[start : start + 500])
            assert status == 202, text
        comment = {"comment": {"body": f"a {s.comment_word}"}}
        assert (await _call(http, "POST", f"{url}/api/articles/{slug}/comments", mine, json=comment))[0] == 200
        await _caught_up(runtime)
        replay = TribeProcess(["replay", "articles", "--data-dir", str(runtime.data)], tmp_path / "replay.log")
        replay.start()
        try:
            right = {"user": {"password": PASSWORD}}
            assert (await _call(http, "DELETE", f"{url}/api/user", mine, json=right))[0] == 204
            assert replay.process is not None
            assert await asyncio.to_thread(replay.process.wait, 300) == 0, replay.output()[-3000:]
        finally:
            replay.stop()
        leaks = await _until_forgotten(runtime.data, s)
        assert leaks == [], f"the store still holds {leaks} after the erasure and the replay"
        await _caught_up(runtime)
        await _replay_matches(runtime, tmp_path / "again.db")
