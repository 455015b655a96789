"""Private profiles over HTTP (issue 16 items 4 and 6): every read path, tried by readers who may not read them.

ann goes private, then publishes an article whose title holds a word found nowhere else, comments
on it mentioning everyone, and bumps it. Every path that shows articles, comments or notifications
is tried by an anonymous reader, a logged-in stranger, a pending requester and a denied one, and
the live stream is read by the last three: the word appears in no answer and no message. Then ann
approves the requester, who reads it in the feeds, the lists and by slug, as her follower from
before she went private always could.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.e2e.conftest import Api, auth
from tests.e2e.stream_client import Received, Sse
from tests.e2e.test_hybrid_feed import settle

WORD = "Quixotrombulent"
TITLE = f"The {WORD} plan"


async def call(client: TestClient, method: str, path: str, token: str | None, ok: int, **kw: Any) -> str:
    r = await client.request(method, path, headers=auth(token) if token else {}, **kw)
    text = await r.text()
    assert r.status == ok, (method, path, r.status, text)
    return text


async def every_read(client: TestClient, token: str | None, name: str | None, slug: str, article_id: str) -> list[str]:
    """Every answer a reader gets on the paths that show articles, comments and notifications (404 where hidden)."""
    got = [
        await call(client, "GET", "/api/articles", token, 200),
        await call(client, "GET", "/api/articles?author=ann", token, 200),
        await call(client, "GET", "/api/articles?tag=quiet", token, 200),
        await call(client, "GET", "/api/articles?favorited=ann", token, 200),
        await call(client, "GET", "/api/articles?author=ann&tag=quiet&favorited=ann", token, 200),
        await call(client, "GET", f"/api/articles/{slug}", token, 404),
        await call(client, "GET", f"/api/articles/{slug}/comments", token, 404),
        await call(client, "GET", "/api/tags", token, 200),
        await call(client, "GET", "/api/profiles/ann", token, 200),
        await call(client, "GET", f"/v1/articles/{article_id}", token, 404),
        await call(client, "GET", f"/v1/search/articles?q={WORD}", token, 200),
        await call(client, "GET", "/v1/search/articles?tag=quiet", token, 200),
        await call(client, "GET", "/v1/trending?window=1h", token, 200),
        await call(client, "GET", "/v1/trending?window=24h", token, 200),
        await call(client, "GET", "/v1/users/ann/stats", token, 200),
    ]
    if token is not None and name is not None:
        got += [
            await call(client, "GET", "/api/articles/feed", token, 200),
            await call(client, "GET", "/v1/feed", token, 200),
            await call(client, "GET", f"/v1/users/{name}/notifications", token, 200),
            await call(client, "POST", f"/api/articles/{slug}/favorite", token, 404),
            await call(client, "POST", f"/api/articles/{slug}/comments", token, 404, json={"comment": {"body": "hi"}}),
            await call(client, "GET", "/v1/follow-requests", token, 200),
        ]
    return got


async def stream_until_marker(sse: Sse, marker: str) -> list[Received]:
    """Messages until the feed message of the marker article, published after everything else."""
    got: list[Received] = []
    while not got or got[-1].data.get("title") != marker:
        got.append(await asyncio.wait_for(sse.next(), 20))
    return got


async def test_no_read_path_shows_a_private_article_to_a_reader_who_is_not_an_approved_follower(api: Api) -> None:
    client = api.client
    ann, ben, pat, den, sam, pub = [await api.register(n) for n in ("ann", "ben", "pat", "den", "sam", "pub")]
    await call(client, "POST", "/api/profiles/ann/follow", ben, 200)  # before she goes private: keeps access
    made_private = json.loads(await call(client, "PUT", "/api/user", ann, 200, json={"user": {"private": True}}))
    assert made_private["user"]["private"] is True
    assert json.loads(await call(client, "GET", "/api/profiles/ann", None, 200))["profile"]["private"] is True
    for requester in (pat, den):
        followed = json.loads(await call(client, "POST", "/api/profiles/ann/follow", requester, 200))["profile"]
        assert (followed["following"], followed["requested"]) == (False, True)
    requests = json.loads(await call(client, "GET", "/v1/follow-requests", ann, 200))["requests"]
    assert sorted(r["user"]["username"] for r in requests) == ["den", "pat"]
    denied = json.loads(await call(client, "POST", "/v1/follow-requests/den/deny", ann, 200))
    assert denied == {"username": "den", "following": False, "approved": False}
    readers = {"sam": sam, "pat": pat, "den": den}
    for token in readers.values():
        await call(client, "POST", "/api/profiles/pub/follow", token, 200)

    tickets = {name: (await client.post("/v1/stream/tickets", headers=auth(t))) for name, t in readers.items()}
    streams = {}
    for name, answer in tickets.items():
        assert answer.status == 201, await answer.text()
        url = str(client.make_url(f"/v1/stream?ticket={(await answer.json())['ticket']}"))
        streams[name] = await Sse(client.session, url).__aenter__()

    article = await api.publish(ann, TITLE, tags=["quiet"])
    slug = article["slug"]
    comment = {"comment": {"body": f"{WORD} for @sam @pat @den @ben"}}
    await call(client, "POST", f"/api/articles/{slug}/comments", ann, 200, json=comment)
    await call(client, "POST", f"/api/articles/{slug}/favorite", ann, 200)
    found = json.loads(await call(client, "GET", f"/v1/search/articles?q={WORD}", ann, 200))
    (article_id,) = [card["id"] for card in found["articles"]]
    await api.publish(pub, "Marker")
    await settle(api)

    answers = await every_read(client, None, None, slug, article_id)
    for name, token in readers.items():
        answers += await every_read(client, token, name, slug, article_id)
    for sse in streams.values():
        messages = await stream_until_marker(sse, "Marker")
        answers += [str(m.data) for m in messages]
        await sse.__aexit__(None, None, None)
    leaks = [a for a in answers if WORD.casefold() in a.casefold() or slug in a]
    assert leaks == []

    await call(client, "POST", "/v1/follow-requests/pat/approve", ann, 200)
    await settle(api)
    for token in (ben, pat):
        for path in (
            "/api/articles/feed",
            "/api/articles",
            "/api/articles?author=ann",
            "/v1/feed",
            f"/api/articles/{slug}",
        ):
            assert WORD in await call(client, "GET", path, token, 200), path
        assert WORD in await call(client, "GET", f"/api/articles/{slug}/comments", token, 200)
    notified = await call(client, "GET", "/v1/users/pat/notifications", pat, 200)
    assert WORD in notified
