"""Reports and moderation over HTTP, on the real app and real SQLite files.

Ordinary users (and admins, who are not moderators unless named) are refused every moderator
route: 0 allowed, nothing appended. A moderator's hide takes an article out of every read path
for everyone but its author; the classifier, running in the server, hides a comment holding a
listed word by itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from api import v1_moderation
from services import moderation
from tests.e2e.conftest import Api, auth
from tests.sealed import data_dir_keys
from tribe.bootstrap import create_app
from tribe.settings import Settings

Json = dict[str, Any]


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> Api:
    settings = Settings(
        data_dir=tmp_path / "data",
        jwt_secret="test-secret-" + "x" * 40,
        moderators=("mia",),
        admins=("adam",),
        moderation_words=("lemon",),
    )
    return Api(await aiohttp_client(create_app(settings)), settings.data_dir)


async def ok(response: ClientResponse, status: int = 200) -> Json:
    assert response.status == status, await response.text()
    body: Json = await response.json()
    return body


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def comment(api: Api, token: str, slug: str, body: str) -> Json:
    r = await api.client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token))
    return (await ok(r))["comment"]


def moderator_routes() -> list[tuple[str, str]]:
    return sorted(
        (route.method, route.path) for route in v1_moderation.routes if route.path.startswith("/v1/moderation/")
    )


def test_the_moderator_routes_are_the_queue_and_the_decisions() -> None:
    """A new moderator route fails here until the refusal test below tries it."""
    assert moderator_routes() == [("GET", "/v1/moderation/queue"), ("POST", "/v1/moderation/decisions")]


async def test_ordinary_users_and_admins_calling_every_moderator_route_are_refused(api: Api) -> None:
    ann, ben, adam = await api.register("ann"), await api.register("ben"), await api.register("adam")
    published = await api.publish(ann, "Target")
    article = {"id": await _article_id(api, published["slug"])}
    posted = await comment(api, ann, published["slug"], "a comment")
    reported = {"target_kind": "user", "username": "ann", "reason": "spam"}
    await ok(await api.client.post("/v1/reports", json=reported, headers=auth(ben)), 201)
    requests: list[tuple[str, dict[str, str], Json | None]] = [
        ("GET", {}, None),
        ("GET", {"state": "open"}, None),
        ("GET", {"state": "hidden", "limit": "100", "offset": "0"}, None),
        *(
            ("POST", {}, body)
            for body in (
                {"target_kind": "article", "article_id": article["id"], "action": "hide", "reason": "spam"},
                {"target_kind": "article", "article_id": article["id"], "action": "restore", "reason": "ok"},
                {
                    "target_kind": "comment",
                    "article_id": article["id"],
                    "comment_id": posted["id"],
                    "action": "hide",
                    "reason": "x",
                },
                {"target_kind": "user", "username": "ann", "action": "suspend", "reason": "abuse"},
                {"target_kind": "user", "username": "ben", "action": "unsuspend", "reason": "ok"},
                {"target_kind": "user", "username": "nobody", "action": "suspend", "reason": "x"},
                {"target_kind": "article", "article_id": "no-such-article", "action": "hide", "reason": "x"},
            )
        ),
    ]
    paths = dict(moderator_routes())
    before = await api.log_size()
    tried = allowed = 0
    for token in (ann, ben, adam):
        for method, query, body in requests:
            r = await api.client.request(method, paths[method], params=query, json=body, headers=auth(token))
            tried += 1
            allowed += r.status != 403
            assert (await r.json())["errors"] == {"user": ["is not a moderator"]}, (method, query, body)
    for method, path in moderator_routes():
        assert (await api.client.request(method, path, json=requests[-1][2])).status == 401
    assert (tried, allowed) == (3 * len(requests), 0)
    assert await api.log_size() == before
    assert (await ok(await api.client.get(f"/v1/articles/{article['id']}", headers=auth(ben))))["article"]


async def test_a_queue_page_beyond_the_deepest_one_is_a_400_not_a_server_error(api: Api) -> None:
    """An offset past what the stores serve (and one past what SQLite can bind, which was a 500) is refused."""
    mia = await api.register("mia")
    deepest = moderation.QUEUE_DEEPEST_OFFSET
    r = await api.client.get("/v1/moderation/queue", params={"offset": deepest, "limit": 100}, headers=auth(mia))
    assert await ok(r) == {"items": [], "total": 0}
    for offset in (deepest + 1, 2**63, -1):
        r = await api.client.get("/v1/moderation/queue", params={"offset": offset}, headers=auth(mia))
        assert r.status == 400, await r.text()
        assert (await r.json())["errors"] == {"offset": [f"must be 0-{deepest}"]}


async def test_a_hidden_article_leaves_every_read_path_but_its_authors(api: Api) -> None:
    ann, ben, mia = await api.register("ann"), await api.register("ben"), await api.register("mia")
    await ok(await api.client.post("/api/profiles/ann/follow", headers=auth(ben)))
    hidden = await api.publish(ann, "Quince jam", tags=["jam"])
    kept = await api.publish(ann, "Plum jam", tags=["jam"])
    for slug in (hidden["slug"], kept["slug"]):
        await ok(await api.client.post(f"/api/articles/{slug}/favorite", headers=auth(ben)))
    hidden_id = await _article_id(api, hidden["slug"])

    r = await api.client.post(
        "/v1/reports",
        json={"target_kind": "article", "article_id": hidden_id, "reason": "spam", "note": "ads"},
        headers=auth(ben),
    )
    assert (await ok(r, 201))["report"] == {
        "target_kind": "article",
        "target_id": hidden_id,
        "article_id": hidden_id,
        "reason": "spam",
    }
    queue = await ok(await api.client.get("/v1/moderation/queue", headers=auth(mia)))
    assert [(i["target_id"], i["reports"], i["state"], i["shown"]) for i in queue["items"]] == [
        (hidden_id, 1, "open", "Quince jam")
    ]
    r = await api.client.post(
        "/v1/moderation/decisions",
        json={"target_kind": "article", "article_id": hidden_id, "action": "hide", "reason": "spam"},
        headers=auth(mia),
    )
    item = (await ok(r))["item"]
    assert (item["state"], item["decided_source"], item["reports"]) == ("hidden", "moderator", 1)

    for reader in (ben, None):
        seen = await _every_read(api, auth(reader) if reader else {}, hidden["slug"], hidden_id)
        assert [path for path, titles in seen.items() if "Quince jam" in titles] == [], seen
        assert [path for path, titles in seen.items() if "Plum jam" not in titles] == [], seen
    author = await ok(await api.client.get(f"/api/articles/{hidden['slug']}", headers=auth(ann)))
    assert author["article"]["title"] == "Quince jam"

    r = await api.client.post(
        "/v1/moderation/decisions",
        json={"target_kind": "article", "article_id": hidden_id, "action": "restore", "reason": "not spam"},
        headers=auth(mia),
    )
    assert (await ok(r))["item"]["state"] == "restored"
    restored = await ok(await api.client.get(f"/api/articles/{hidden['slug']}", headers=auth(ben)))
    assert restored["article"]["title"] == "Quince jam"


async def _article_id(api: Api, slug: str) -> str:
    from api.requests import PORTS

    doc = await api.client.app[PORTS].reads.article_by_slug(slug)
    assert doc is not None
    return str(doc["article_id"])


async def _every_read(api: Api, headers: dict[str, str], slug: str, article_id: str) -> dict[str, list[str]]:
    """Titles by read path: what the reader finds of the articles through every way of reading them.

    The hidden article's own reads (by slug, its card, its comments) answer 404.
    """

    async def titles(path: str, key: str = "articles", **params: str) -> list[str]:
        body = await ok(await api.client.get(path, params=params, headers=headers))
        return [a["article"]["title"] if "article" in a else a["title"] for a in body[key]]

    own = [f"/api/articles/{slug}", f"/v1/articles/{article_id}", f"/api/articles/{slug}/comments"]
    assert [(await api.client.get(path, headers=headers)).status for path in own] == [404, 404, 404]
    seen = {
        "articles": await titles("/api/articles"),
        "by_author": await titles("/api/articles", author="ann"),
        "by_tag": await titles("/api/articles", tag="jam"),
        "favorited": await titles("/api/articles", favorited="ben"),
        "search": await titles("/v1/search/articles", q="jam"),
        "trending": await titles("/v1/trending", window="1h"),
    }
    if headers:
        seen["feed"] = await titles("/api/articles/feed")
        seen["ranked_feed"] = await titles("/v1/feed", key="items")
    return seen


async def test_the_classifier_hides_a_comment_holding_a_listed_word_by_itself(api: Api) -> None:
    ann, ben, mia = await api.register("ann"), await api.register("ben"), await api.register("mia")
    article = await api.publish(ann, "Tarts")
    await comment(api, ben, article["slug"], "I like LEMON!")
    await comment(api, ben, article["slug"], "I like plums")

    async def bodies(token: str) -> list[str]:
        body = await ok(await api.client.get(f"/api/articles/{article['slug']}/comments", headers=auth(token)))
        return [c["body"] for c in body["comments"]]

    async def hidden() -> bool:
        return await bodies(ann) == ["I like plums"]

    await eventually(hidden)
    assert sorted(await bodies(ben)) == ["I like LEMON!", "I like plums"]  # its author still reads it
    queue = await ok(await api.client.get("/v1/moderation/queue", params={"state": "hidden"}, headers=auth(mia)))
    assert [(i["target_kind"], i["shown"], i["decided_source"], i["decided_by"]) for i in queue["items"]] == [
        ("comment", "I like LEMON!", "classifier", "tribe:classifier")
    ]


async def test_the_operator_grants_and_revokes_the_role_with_the_cli_while_the_server_runs(api: Api) -> None:
    max_ = await api.register("max")

    def tribe(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tribe", "moderators", *args, "max", "--data-dir", str(api.data_dir)]
        env = {**os.environ, **data_dir_keys(api.data_dir)}
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)

    async def answers(status: int) -> bool:
        return (await api.client.get("/v1/moderation/queue", headers=auth(max_))).status == status

    assert await answers(403)
    granted = await asyncio.to_thread(tribe, "grant")
    assert granted.returncode == 0 and "max" in granted.stderr and "is now a moderator" in granted.stderr, granted
    await eventually(lambda: answers(200))
    revoked = await asyncio.to_thread(tribe, "revoke")
    assert revoked.returncode == 0, revoked
    await eventually(lambda: answers(403))
