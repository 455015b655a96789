"""Conduit behaviour beyond the Postman collection: uniqueness, idempotent toggles, read-your-writes."""

from __future__ import annotations

from api.answers import POSITION_HEADER
from api.requests import PORTS
from tests.e2e.conftest import Api, auth


async def test_username_and_email_are_unique_case_insensitively(api: Api) -> None:
    await api.register("Carol")
    for body, what in (
        ({"username": "carol", "email": "other@example.com", "password": "long-enough"}, "username"),
        ({"username": "carol2", "email": "CAROL@example.com", "password": "long-enough"}, "email"),
    ):
        r = await api.client.post("/api/users", json={"user": body})
        assert r.status == 422
        assert what in (await r.json())["errors"]


async def test_login_checks_the_password(api: Api) -> None:
    await api.register("dave", password="the-right-one")
    ok = await api.client.post(
        "/api/users/login", json={"user": {"email": "dave@example.com", "password": "the-right-one"}}
    )
    assert ok.status == 200
    bad = await api.client.post(
        "/api/users/login", json={"user": {"email": "dave@example.com", "password": "wrong-one!"}}
    )
    assert bad.status == 401


async def test_repeated_follow_and_favorite_answer_200_with_current_state(api: Api) -> None:
    erin = await api.register("erin")
    frank = await api.register("frank")
    article = await api.publish(frank)
    for _ in range(2):
        r = await api.client.post("/api/profiles/frank/follow", headers=auth(erin))
        assert r.status == 200 and (await r.json())["profile"]["following"] is True
    for _ in range(2):
        r = await api.client.post(f"/api/articles/{article['slug']}/favorite", headers=auth(erin))
        body = (await r.json())["article"]
        assert r.status == 200 and body["favorited"] is True and body["favoritesCount"] == 1
    for _ in range(2):
        r = await api.client.delete(f"/api/articles/{article['slug']}/favorite", headers=auth(erin))
        body = (await r.json())["article"]
        assert r.status == 200 and body["favorited"] is False and body["favoritesCount"] == 0
    for _ in range(2):
        r = await api.client.delete("/api/profiles/frank/follow", headers=auth(erin))
        assert r.status == 200 and (await r.json())["profile"]["following"] is False


async def test_feed_holds_followed_authors_newest_first(api: Api) -> None:
    reader = await api.register("reader")
    writer = await api.register("writer")
    other = await api.register("other")
    first = await api.publish(writer, "First")
    await api.publish(other, "Not followed")
    second = await api.publish(writer, "Second")
    await api.client.post("/api/profiles/writer/follow", headers=auth(reader))
    feed = await (await api.client.get("/api/articles/feed", headers=auth(reader))).json()
    assert [a["slug"] for a in feed["articles"]] == [second["slug"], first["slug"]]
    assert feed["articlesCount"] == 2
    assert all(a["author"]["following"] for a in feed["articles"])


async def test_article_filters_and_tags(api: Api) -> None:
    gina = await api.register("gina")
    hank = await api.register("hank")
    dragons = await api.publish(gina, "Dragons", tags=["training", "dragons"])
    await api.publish(hank, "Cats", tags=["cats"])
    await api.client.post(f"/api/articles/{dragons['slug']}/favorite", headers=auth(hank))
    by_author = await (await api.client.get("/api/articles?author=gina")).json()
    assert [a["slug"] for a in by_author["articles"]] == [dragons["slug"]]
    by_tag = await (await api.client.get("/api/articles?tag=cats")).json()
    assert by_tag["articlesCount"] == 1 and by_tag["articles"][0]["author"]["username"] == "hank"
    favorited = await (await api.client.get("/api/articles?favorited=hank")).json()
    assert [a["slug"] for a in favorited["articles"]] == [dragons["slug"]]
    assert "body" not in favorited["articles"][0]
    tags = await (await api.client.get("/api/tags")).json()
    assert sorted(tags["tags"]) == ["cats", "dragons", "training"]
    paged = await (await api.client.get("/api/articles?limit=1&offset=1")).json()
    assert paged["articlesCount"] == 2 and len(paged["articles"]) == 1


async def test_deleted_article_and_comment_disappear(api: Api) -> None:
    ivy = await api.register("ivy")
    article = await api.publish(ivy)
    slug = article["slug"]
    r = await api.client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "first"}}, headers=auth(ivy))
    comment = (await r.json())["comment"]
    assert (await api.client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth(ivy))).status == 204
    assert (await (await api.client.get(f"/api/articles/{slug}/comments")).json())["comments"] == []
    assert (await api.client.delete(f"/api/articles/{slug}", headers=auth(ivy))).status == 204
    assert (await api.client.get(f"/api/articles/{slug}")).status == 404


async def test_update_user_and_title_change_moves_the_slug(api: Api) -> None:
    jack = await api.register("jack")
    r = await api.client.put("/api/user", json={"user": {"bio": "hello", "username": "jack2"}}, headers=auth(jack))
    assert r.status == 200
    user = (await r.json())["user"]
    assert user["bio"] == "hello" and user["username"] == "jack2"
    assert (await api.client.get("/api/profiles/jack2")).status == 200
    article = await api.publish(jack, "Old title")
    r = await api.client.put(
        f"/api/articles/{article['slug']}", json={"article": {"title": "New title"}}, headers=auth(jack)
    )
    moved = (await r.json())["article"]
    assert moved["slug"].startswith("new-title-") and moved["title"] == "New title"
    assert (await api.client.get(f"/api/articles/{moved['slug']}")).status == 200


async def test_native_events_are_acknowledged_with_positions_and_retries_are_safe(api: Api) -> None:
    kim = await api.register("kim")
    article = await api.publish(kim)
    reads = api.client.app[PORTS].reads
    doc = await reads.article_by_slug(article["slug"])
    assert doc is not None
    events = [
        {"type": "ArticleViewed", "article_id": doc["article_id"], "event_id": f"client-view-{i:04d}"} for i in range(3)
    ]
    first = await api.client.post("/v1/events", json=events, headers=auth(kim))
    assert first.status == 202
    acks = (await first.json())["events"]
    assert [a["event_id"] for a in acks] == [e["event_id"] for e in events]
    before = await api.log_size()
    retry = await api.client.post("/v1/events", json=events, headers=auth(kim))
    assert [a["position"] for a in (await retry.json())["events"]] == [a["position"] for a in acks]
    assert await api.log_size() == before
    r = await api.client.get(
        f"/api/articles/{article['slug']}", headers={"X-Tribe-After": first.headers[POSITION_HEADER]}
    )
    assert r.status == 200
    doc = await reads.article(doc["article_id"])
    assert doc is not None and doc["views"] == 3
