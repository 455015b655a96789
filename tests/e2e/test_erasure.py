"""Account deletion on the embedded runtime, checked the way a user and an auditor meet it.

After `DELETE /api/user`, no API answer, no byte of the store's files and no byte of the log
holds the user's e-mail, bio, or the unique words of their article and comment; the username and
e-mail are free again; and a replay of every view from the log gives the documents the live
views hold.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from events.adapters.sqlite_log import SqliteLog
from projections.adapters.sqlite_store import SqliteStore
from tests.e2e.server import running_server
from tests.integration.projection_check import differences, documents, replay_from_zero, wait_caught_up

PASSWORD = "long-enough-pw"


def _files_holding(directory: Path, needles: list[bytes], names: tuple[str, ...]) -> dict[str, list[str]]:
    """For each needle, the files (the store's or the log's, with their -wal/-shm) whose bytes hold it."""
    found: dict[str, list[str]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(names):
            data = path.read_bytes()
            for needle in needles:
                if needle in data or needle.lower() in data.lower():
                    found.setdefault(needle.decode(), []).append(path.name)
    return found


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kw: object
) -> tuple[int, str]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kw) as r:  # type: ignore[arg-type]
        return r.status, await r.text()


async def _register(http: aiohttp.ClientSession, url: str, name: str, email: str) -> str:
    status, _ = await _call(http, "POST", f"{url}/api/users",
                            json={"user": {"username": name, "email": email, "password": PASSWORD}})
    assert status == 201
    async with http.post(f"{url}/api/users/login", json={"user": {"email": email, "password": PASSWORD}}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["user"]["token"])


async def test_an_erased_user_is_in_no_answer_no_store_byte_and_no_log_byte(tmp_path: Path) -> None:
    data = tmp_path / "data"
    suffix = str(time.time_ns())[-8:]
    name, email = f"eraseme{suffix}", f"eraseme{suffix}@private.example"
    bio, article_word, comment_word = f"biography{suffix}xq", f"zanzibarquux{suffix}", f"kumquatique{suffix}"
    secrets = [email.encode(), bio.encode(), article_word.encode(), comment_word.encode()]
    with running_server(data) as server:
        url = server.url
        async with aiohttp.ClientSession() as http:
            await server_up(http, url)
            other = await _register(http, url, f"other{suffix}", f"other{suffix}@example.com")
            mine = await _register(http, url, name, email)
            assert (await _call(http, "PUT", f"{url}/api/user", mine, json={"user": {"bio": bio}}))[0] == 200
            status, body = await _call(http, "POST", f"{url}/api/articles", other,
                                       json={"article": {"title": "Other's post", "description": "d", "body": "b"}})
            assert status == 201
            others_slug = body.split('"slug":"')[1].split('"')[0]
            status, body = await _call(http, "POST", f"{url}/api/articles", mine, json={"article": {
                "title": f"On {article_word}", "description": f"all {article_word}", "body": f"{article_word}!",
                "tagList": [article_word]}})
            assert status == 201
            my_slug = body.split('"slug":"')[1].split('"')[0]
            assert (await _call(http, "POST", f"{url}/api/articles/{others_slug}/comments", mine,
                                json={"comment": {"body": f"a {comment_word}"}}))[0] == 200
            assert (await _call(http, "POST", f"{url}/api/articles/{others_slug}/favorite", mine))[0] == 200
            assert (await _call(http, "POST", f"{url}/api/profiles/other{suffix}/follow", mine))[0] == 200
            assert (await _call(http, "POST", f"{url}/api/articles/{my_slug}/favorite", other))[0] == 200
            # Before: the store holds them (the check below is not vacuous); the log never does.
            await _settled(data)
            assert set(_files_holding(data, secrets, ("store.db",))) == {s.decode() for s in secrets}
            assert _files_holding(data, secrets, ("log.db",)) == {}

            wrong = await _call(http, "DELETE", f"{url}/api/user", mine, json={"user": {"password": "not-it-at-all"}})
            assert wrong[0] == 401
            status, _ = await _call(http, "DELETE", f"{url}/api/user", mine, json={"user": {"password": PASSWORD}})
            assert status == 204

            leaks = await _until_forgotten(data, secrets)
            assert leaks == {}, f"still held after the erasure: {leaks}"
            reads = [
                ("GET", f"/api/profiles/{name}"), ("GET", f"/api/articles/{my_slug}"), ("GET", "/api/articles"),
                ("GET", f"/api/articles?author={name}"), ("GET", f"/api/articles?tag={article_word}"),
                ("GET", f"/api/articles/{others_slug}/comments"), ("GET", f"/api/articles/{others_slug}"),
                ("GET", "/api/tags"), ("GET", f"/v1/search?q={article_word}"), ("GET", "/v1/trending"),
                ("GET", "/api/articles/feed"), ("GET", "/v1/notifications"),
            ]
            for method, path in reads:
                status, text = await _call(http, method, f"{url}{path}", other)
                assert status < 500, (path, status, text)
                held = [s.decode() for s in secrets if s.decode().lower() in text.lower()]
                held += [name] if name in text else []
                assert held == [], (path, held)
            assert (await _call(http, "GET", f"{url}/api/user", mine))[0] == 401
            credentials = {"user": {"email": email, "password": PASSWORD}}
            assert (await _call(http, "POST", f"{url}/api/users/login", json=credentials))[0] == 401
            # The username and the e-mail are free again.
            await _register(http, url, name, email)
    await _replay_matches(data, tmp_path / "replay.db")


async def server_up(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(300):
        try:
            async with http.get(f"{url}/health/live") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the server never answered")


async def _settled(data: Path) -> None:
    log, store = SqliteLog(data / "log.db"), SqliteStore(data / "store.db")
    try:
        await wait_caught_up(log, store, 30)
    finally:
        await store.close()
        await log.close()


async def _until_forgotten(data: Path, secrets: list[bytes], timeout: float = 60) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        leaks = _files_holding(data, secrets, ("store.db", "log.db"))
        if not leaks or time.monotonic() > deadline:
            return leaks
        await asyncio.sleep(0.25)


async def _replay_matches(data: Path, replay_path: Path) -> None:
    log, live = SqliteLog(data / "log.db"), SqliteStore(data / "store.db")
    try:
        replayed = await replay_from_zero(log, replay_path)
        try:
            assert differences(await documents(live), await documents(replayed)) == []
        finally:
            await replayed.close()
    finally:
        await live.close()
        await log.close()
