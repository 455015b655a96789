"""Every /v1 endpoint over HTTP, on the real app and real SQLite files: what it answers, and whom it refuses.

Writes through /v1 and Conduit wait for their projections, so a read right after them
sees them. POST /v1/events answers 202 at once; the reads after it send its position
back in X-Tribe-After to see it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse

from api import native, v1_activity, v1_social
from api.answers import POSITION_HEADER
from api.requests import AFTER_HEADER, PORTS
from events.catalogue import ArticleBumped
from events.ids import new_event_id
from reducers.ranking import rank
from tests.e2e.conftest import Api, auth

Json = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------------


async def ok(response: ClientResponse, status: int = 200) -> Json:
    assert response.status == status, await response.text()
    return await response.json()


async def refused(api: Api, response: ClientResponse, status: int, what: str, log_before: int | None = None) -> None:
    """The response is `status` naming `what`, and (if a log size is given) nothing was appended."""
    assert response.status == status, await response.text()
    assert what in (await response.json())["errors"]
    if log_before is not None:
        assert await api.log_size() == log_before


def user_id(api: Api, token: str) -> str:
    return api.client.app[PORTS].tokens.verify(token)


async def create_tribe(api: Api, token: str, name: str, description: str = "") -> Json:
    r = await api.client.post("/v1/tribes", json={"name": name, "description": description}, headers=auth(token))
    return (await ok(r, 201))["tribe"]


async def post_card(api: Api, token: str, title: str, body: str = "b", **fields: Any) -> Json:
    r = await api.client.post("/v1/articles", json={"title": title, "body": body, **fields}, headers=auth(token))
    return (await ok(r, 201))["article"]


async def send_events(api: Api, token: str, events: list[Json]) -> str:
    """POST /v1/events; the position token to send back as X-Tribe-After."""
    r = await api.client.post("/v1/events", json=events, headers=auth(token))
    body = await ok(r, 202)
    assert len(body["events"]) == len(events)
    return r.headers[POSITION_HEADER]


async def card(api: Api, article_id: str, token: str | None = None, after: str | None = None) -> Json:
    headers = {**(auth(token) if token else {}), **({AFTER_HEADER: after} if after else {})}
    return (await ok(await api.client.get(f"/v1/articles/{article_id}", headers=headers)))["article"]


async def feed_pages(api: Api, token: str, limit: int) -> list[list[Json]]:
    pages: list[list[Json]] = []
    cursor = None
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        body = await ok(await api.client.get("/v1/feed", params=params, headers=auth(token)))
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


async def notifications(api: Api, token: str, username: str) -> Json:
    return await ok(await api.client.get(f"/v1/users/{username}/notifications", headers=auth(token)))


async def favorite(api: Api, token: str, slug: str) -> None:
    await ok(await api.client.post(f"/api/articles/{slug}/favorite", headers=auth(token)))


async def follow(api: Api, token: str, username: str) -> ClientResponse:
    return await api.client.post(f"/api/profiles/{username}/follow", headers=auth(token))


async def comment(api: Api, token: str, slug: str, body: str) -> ClientResponse:
    return await api.client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
    )


def rank_of(shown: Json) -> int:
    """The rank a card's own counts and creation time give (reducers/ranking.py)."""
    created = round(datetime.fromisoformat(shown["created_at"].replace("Z", "+00:00")).timestamp() * 1000)
    c = shown["counts"]
    return rank(created, c["bumps"], c["comments"], c["views"])


def cursor_of(values: Any) -> str:
    """A cursor as the API encodes one, holding any JSON."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


async def a_moment() -> None:
    """Let the server clock move on, so that events' times (ms) differ."""
    await asyncio.sleep(0.005)


# -- the route table -------------------------------------------------------------------------------

COVERED = {
    ("POST", "/v1/tribes"),
    ("GET", "/v1/tribes"),
    ("GET", "/v1/tribes/{tribe_id}"),
    ("POST", "/v1/tribes/{tribe_id}/join"),
    ("POST", "/v1/tribes/{tribe_id}/leave"),
    ("POST", "/v1/articles"),
    ("GET", "/v1/articles/{article_id}"),
    ("GET", "/v1/feed"),
    ("POST", "/v1/users/{username}/block"),
    ("DELETE", "/v1/users/{username}/block"),
    ("GET", "/v1/users/{username}/stats"),
    ("GET", "/v1/users/{username}/notifications"),
    ("POST", "/v1/notifications/read"),
    ("GET", "/v1/trending"),
    ("GET", "/v1/search/articles"),
    ("GET", "/v1/search/users"),
    ("GET", "/v1/search/tribes"),
    ("POST", "/v1/events"),
    ("GET", "/v1/follow-requests"),
    ("POST", "/v1/follow-requests/{username}/approve"),
    ("POST", "/v1/follow-requests/{username}/deny"),
}


def test_this_suite_covers_every_v1_route() -> None:
    """A new /v1 route fails here until a test below covers it."""
    served = {
        (route.method, route.path)
        for table in (v1_social.routes, v1_activity.routes, native.routes)
        for route in table
        if route.path.startswith("/v1/")
    }
    assert served == COVERED


# -- tribes ------------------------------------------------------------------------------------------


async def test_tribes_create_get_list_join_and_leave(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    cars = await create_tribe(api, ann, "Old Cars", "vintage")
    assert {k: cars[k] for k in ("name", "description", "member_count", "article_count", "joined")} == {
        "name": "Old Cars",
        "description": "vintage",
        "member_count": 1,
        "article_count": 0,
        "joined": True,
    }
    assert cars["owner_id"] == user_id(api, ann)
    bikes = await create_tribe(api, ben, "Bikes")

    r = await api.client.post(f"/v1/tribes/{bikes['id']}/join", headers=auth(ann))
    joined = (await ok(r))["tribe"]
    assert (joined["member_count"], joined["joined"]) == (2, True)
    before = await api.log_size()
    again = (await ok(await api.client.post(f"/v1/tribes/{bikes['id']}/join", headers=auth(ann))))["tribe"]
    assert (again["member_count"], again["joined"]) == (2, True)
    assert await api.log_size() == before + 1  # a repeated join is appended; the reducer settles it

    # Anyone may read; `joined` is the reader's own.
    got = (await ok(await api.client.get(f"/v1/tribes/{bikes['id']}", headers=auth(ben))))["tribe"]
    assert (got["name"], got["member_count"], got["joined"]) == ("Bikes", 2, True)
    anonymous = (await ok(await api.client.get(f"/v1/tribes/{cars['id']}")))["tribe"]
    assert (anonymous["member_count"], anonymous["joined"]) == (1, False)

    listed = await ok(await api.client.get("/v1/tribes", headers=auth(ben)))
    assert [(t["name"], t["member_count"], t["joined"]) for t in listed["tribes"]] == [
        ("Bikes", 2, True),
        ("Old Cars", 1, False),
    ]
    assert listed["next_cursor"] is None

    # Articles published into a tribe are counted on it.
    await post_card(api, ann, "Carburettors", tribe_id=cars["id"])
    got = (await ok(await api.client.get(f"/v1/tribes/{cars['id']}")))["tribe"]
    assert got["article_count"] == 1

    left = (await ok(await api.client.post(f"/v1/tribes/{bikes['id']}/leave", headers=auth(ann))))["tribe"]
    assert (left["member_count"], left["joined"]) == (1, False)
    before = await api.log_size()
    again = (await ok(await api.client.post(f"/v1/tribes/{bikes['id']}/leave", headers=auth(ann))))["tribe"]
    assert (again["member_count"], again["joined"]) == (1, False)
    assert await api.log_size() == before + 1  # a repeated leave is appended; the reducer settles it


async def test_the_tribe_list_pages_by_member_count_with_acursor_of(api: Api) -> None:
    tokens = [await api.register(name) for name in ("p1", "p2", "p3")]
    tribes = [await create_tribe(api, tokens[0], f"Tribe {i}") for i in range(4)]
    # Tribe 2 gets three members, tribe 3 two.
    for token in tokens[1:]:
        await ok(await api.client.post(f"/v1/tribes/{tribes[2]['id']}/join", headers=auth(token)))
    await ok(await api.client.post(f"/v1/tribes/{tribes[3]['id']}/join", headers=auth(tokens[1])))
    seen: list[Json] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = await ok(await api.client.get("/v1/tribes", params=params))
        seen += body["tribes"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(t["id"] for t in seen) == sorted(t["id"] for t in tribes)
    assert [t["member_count"] for t in seen] == [3, 2, 1, 1]
    assert seen[0]["id"] == tribes[2]["id"]
    for bad in ("%%%", cursor_of([]), cursor_of([3]), cursor_of([3, "x", "y"]), cursor_of([[3], "x"])):
        await refused(api, await api.client.get("/v1/tribes", params={"cursor": bad}), 400, "cursor")


async def test_tribe_writes_need_a_token_and_a_known_tribe(api: Api) -> None:
    ann = await api.register("ann")
    tribe = await create_tribe(api, ann, "Cars")
    before = await api.log_size()
    await refused(api, await api.client.post("/v1/tribes", json={"name": "X"}), 401, "token", before)
    await refused(api, await api.client.post(f"/v1/tribes/{tribe['id']}/join"), 401, "token", before)
    await refused(api, await api.client.post(f"/v1/tribes/{tribe['id']}/leave"), 401, "token", before)
    for path in ("/v1/tribes/nope/join", "/v1/tribes/nope/leave"):
        await refused(api, await api.client.post(path, headers=auth(ann)), 404, "tribe", before)
    await refused(api, await api.client.get("/v1/tribes/nope"), 404, "tribe")
    for body, what in (
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "owner": "x"}, "owner"),
        ({"name": " "}, "name"),
    ):
        await refused(api, await api.client.post("/v1/tribes", json=body, headers=auth(ann)), 422, what, before)
    await refused(api, await api.client.post("/v1/tribes", json=["name"], headers=auth(ann)), 422, "body", before)


# -- publishing and cards -----------------------------------------------------------------------------


async def test_publishing_into_a_tribe_needs_membership_and_good_fields(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    tribe = await create_tribe(api, ann, "Cars")
    shown = await post_card(
        api, ann, "Fuel injection", body="How it works", description="d", tags=["engines", "fuel"], tribe_id=tribe["id"]
    )
    assert shown["tribe"] == {"id": tribe["id"], "name": "Cars"}
    assert (shown["title"], shown["description"], shown["tags"]) == ("Fuel injection", "d", ["engines", "fuel"])
    assert shown["author"] == {"id": user_id(api, ann), "username": "ann", "display_name": "ann", "image": None}
    assert shown["counts"] == {"views": 0, "comments": 0, "bumps": 0}
    assert shown["slug"].startswith("fuel-injection-")
    assert shown["bumped"] is False
    outside = await post_card(api, ben, "No tribe")
    assert outside["tribe"] is None

    before = await api.log_size()
    r = await api.client.post(
        "/v1/articles", json={"title": "t", "body": "b", "tribe_id": tribe["id"]}, headers=auth(ben)
    )
    await refused(api, r, 403, "tribe_id", before)
    r = await api.client.post(
        "/v1/articles", json={"title": "t", "body": "b", "tribe_id": "no-such-tribe"}, headers=auth(ann)
    )
    await refused(api, r, 404, "tribe_id", before)
    await refused(api, await api.client.post("/v1/articles", json={"title": "t", "body": "b"}), 401, "token", before)
    for bad, what in (
        ({"body": "b"}, "title"),
        ({"title": "t"}, "body"),
        ({"title": "", "body": "b"}, "title"),
        ({"title": 7, "body": "b"}, "title"),
        ({"title": "t", "body": "b", "tags": "cars"}, "tags"),
        ({"title": "t", "body": "b", "tags": [1]}, "tags"),
        ({"title": "t", "body": "b", "author_id": "someone"}, "author_id"),
        ({"title": "t", "body": "b", "tribe_id": 3}, "tribe_id"),
    ):
        r = await api.client.post("/v1/articles", json=bad, headers=auth(ann))
        await refused(api, r, 422, what, before)

    # Joining makes publishing possible; leaving takes it away again.
    await ok(await api.client.post(f"/v1/tribes/{tribe['id']}/join", headers=auth(ben)))
    await post_card(api, ben, "Now a member", tribe_id=tribe["id"])
    await ok(await api.client.post(f"/v1/tribes/{tribe['id']}/leave", headers=auth(ben)))
    before = await api.log_size()
    r = await api.client.post(
        "/v1/articles", json={"title": "t", "body": "b", "tribe_id": tribe["id"]}, headers=auth(ben)
    )
    await refused(api, r, 403, "tribe_id", before)


async def test_a_card_shows_its_authors_current_profile(api: Api) -> None:
    ann = await api.register("ann")
    shown = await post_card(api, ann, "Profile follows")
    r = await api.client.put(
        "/api/user", json={"user": {"username": "anna", "image": "https://img/anna.png"}}, headers=auth(ann)
    )
    await ok(r)
    got = await card(api, shown["id"])
    assert got["author"] == {
        "id": shown["author"]["id"],
        "username": "anna",
        "display_name": "anna",
        "image": "https://img/anna.png",
    }
    # A display name (PUT /api/user's one field beyond Conduit's) shows on cards; the username stays.
    r = await api.client.put("/api/user", json={"user": {"displayName": "Anna K."}}, headers=auth(ann))
    assert (await ok(r))["user"]["displayName"] == "Anna K."
    got = await card(api, shown["id"])
    assert (got["author"]["username"], got["author"]["display_name"]) == ("anna", "Anna K.")
    await refused(api, await api.client.get("/v1/articles/no-such-article"), 404, "article")


async def test_views_count_per_event_and_a_repeated_event_id_once(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    shown = await post_card(api, ann, "Viewed")
    view = {"type": "ArticleViewed", "article_id": shown["id"]}
    after = await send_events(api, ben, [view, view, {**view, "referrer": "feed"}])
    assert (await card(api, shown["id"], after=after))["counts"]["views"] == 3
    retried = {**view, "event_id": "client-retry-0001"}
    first = await api.client.post("/v1/events", json=[retried], headers=auth(ben))
    second = await api.client.post("/v1/events", json=[retried], headers=auth(ben))
    first_body, second_body = await ok(first, 202), await ok(second, 202)
    assert first_body["events"] == second_body["events"]  # the same id, the same position
    got = await card(api, shown["id"], after=second.headers[POSITION_HEADER])
    assert got["counts"]["views"] == 4
    assert got["rank"] == rank_of(got)


async def test_bumps_count_distinct_users_and_show_the_viewers_own(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    cat = await api.register("cat")
    shown = await post_card(api, ann, "Bumped")
    bump = {"type": "ArticleBumped", "article_id": shown["id"]}
    await send_events(api, ben, [bump, bump])
    after = await send_events(api, cat, [bump])
    got = await card(api, shown["id"], token=ben, after=after)
    assert got["counts"]["bumps"] == 2
    assert got["bumped"] is True
    assert (await card(api, shown["id"], token=ann))["bumped"] is False
    after = await send_events(api, ben, [{"type": "ArticleUnbumped", "article_id": shown["id"]}])
    got = await card(api, shown["id"], token=ben, after=after)
    assert (got["counts"]["bumps"], got["bumped"]) == (1, False)
    # Conduit's favorite is the same bump.
    await favorite(api, ann, shown["slug"])
    assert (await card(api, shown["id"]))["counts"]["bumps"] == 2
    assert (await card(api, shown["id"]))["rank"] == rank_of(await card(api, shown["id"]))


async def test_events_are_checked_whole_and_append_nothing_when_one_is_bad(api: Api) -> None:
    ann = await api.register("ann")
    await api.register("ben")
    shown = await post_card(api, ann, "Checked")
    good = {"type": "ArticleViewed", "article_id": shown["id"]}
    before = await api.log_size()
    await refused(api, await api.client.post("/v1/events", json=[good]), 401, "token", before)
    for bad, status, what in (
        ([good, {"type": "ArticleViewed", "article_id": "nope"}], 404, "events[1].article_id"),
        ([good, {"type": "ArticlePublished", "article_id": "x"}], 422, "events[1].type"),
        ([good, {"type": "ArticleViewed"}], 422, "events[1].article_id"),
        ([good, {"type": "ArticleViewed", "article_id": shown["id"], "actor_id": "x"}], 422, "events[1].actor_id"),
        ([{"type": "UserFollowed", "followee_id": user_id(api, ann)}], 422, "events[0].followee_id"),
        ([{"type": "UserFollowed", "followee_id": "nobody"}], 404, "events[0].followee_id"),
        ([good, {**good, "event_id": "x"}], 422, "events[1].event_id"),
        ([], 422, "body"),
        ({"type": "ArticleViewed"}, 422, "body"),
    ):
        r = await api.client.post("/v1/events", json=bad, headers=auth(ann))
        await refused(api, r, status, what, before)
    r = await api.client.post("/v1/events", json=[good] * 1001, headers=auth(ann))
    await refused(api, r, 413, "body", before)


async def test_events_follow_and_unfollow(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    after = await send_events(api, ben, [{"type": "UserFollowed", "followee_id": user_id(api, ann)}])
    stats = await ok(await api.client.get("/v1/users/ann/stats", headers={AFTER_HEADER: after}))
    assert stats["stats"]["followers"] == 1
    after = await send_events(api, ben, [{"type": "UserUnfollowed", "followee_id": user_id(api, ann)}])
    stats = await ok(await api.client.get("/v1/users/ann/stats", headers={AFTER_HEADER: after}))
    assert stats["stats"]["followers"] == 0


# -- the ranked feed -----------------------------------------------------------------------------------


async def test_the_feed_holds_followed_authors_and_joined_tribes_best_rank_first(api: Api) -> None:
    reader = await api.register("reader")
    writer = await api.register("writer")
    member = await api.register("member")
    stranger = await api.register("stranger")
    fans = [await api.register(f"fan{i}") for i in range(3)]
    tribe = await create_tribe(api, member, "Rally")
    await ok(await api.client.post(f"/v1/tribes/{tribe['id']}/join", headers=auth(reader)))
    await ok(await follow(api, reader, "writer"))

    followed = [await post_card(api, writer, f"Followed {i}") for i in range(3)]
    in_tribe = [await post_card(api, member, f"Tribe {i}", tribe_id=tribe["id"]) for i in range(3)]
    await post_card(api, member, "Member outside the tribe")
    await post_card(api, stranger, "Stranger")
    # Engagement outranks a few seconds of recency: the oldest cards get bumped to the top.
    for i, fan in enumerate(fans):
        await favorite(api, fan, followed[0]["slug"])
        if i < 2:
            await favorite(api, fan, in_tribe[0]["slug"])

    expected = {c["id"] for c in followed + in_tribe}
    (whole,) = await feed_pages(api, reader, limit=100)
    assert {c["id"] for c in whole} == expected
    assert [c["id"] for c in whole[:2]] == [followed[0]["id"], in_tribe[0]["id"]]
    ranks = [c["rank"] for c in whole]
    assert ranks == sorted(ranks, reverse=True)
    assert all(c["rank"] == rank_of(c) for c in whole)

    for limit in (1, 2, 4):
        pages = await feed_pages(api, reader, limit=limit)
        visited = [c["id"] for page in pages for c in page]
        assert visited == [c["id"] for c in whole], limit  # every card once, in rank order
        assert all(len(page) <= limit for page in pages)


async def test_blocked_authors_disappear_from_the_feed(api: Api) -> None:
    reader = await api.register("reader")
    member = await api.register("member")
    writer = await api.register("writer")
    tribe = await create_tribe(api, member, "Rally")
    await ok(await api.client.post(f"/v1/tribes/{tribe['id']}/join", headers=auth(reader)))
    await ok(await follow(api, reader, "writer"))
    await ok(await follow(api, reader, "member"))
    tribal = await post_card(api, member, "In the tribe", tribe_id=tribe["id"])
    mine = await post_card(api, writer, "Followed")
    (page,) = await feed_pages(api, reader, limit=20)
    assert {c["id"] for c in page} == {tribal["id"], mine["id"]}
    await ok(await api.client.post("/v1/users/member/block", headers=auth(reader)))
    (page,) = await feed_pages(api, reader, limit=20)
    assert [c["id"] for c in page] == [mine["id"]]
    await ok(await api.client.delete("/v1/users/member/block", headers=auth(reader)))
    (page,) = await feed_pages(api, reader, limit=20)
    assert {c["id"] for c in page} == {tribal["id"], mine["id"]}


async def test_a_user_who_blocked_you_disappears_from_your_feed(api: Api) -> None:
    reader = await api.register("reader")
    writer = await api.register("writer")
    await ok(await follow(api, reader, "writer"))
    shown = await post_card(api, writer, "Before the block")
    (page,) = await feed_pages(api, reader, limit=20)
    assert [c["id"] for c in page] == [shown["id"]]
    await ok(await api.client.post("/v1/users/reader/block", headers=auth(writer)))
    (page,) = await feed_pages(api, reader, limit=20)
    assert page == []
    conduit = await ok(await api.client.get("/api/articles/feed", headers=auth(reader)))
    assert conduit["articles"] == []


@pytest.mark.parametrize(
    "cursor", ["%%%", "bm90IGpzb24", cursor_of({"rank": 1}), cursor_of([None]), cursor_of([]), cursor_of([5])]
)
async def test_the_feed_needs_a_token_and_refuses_a_badcursor_of(api: Api, cursor: str) -> None:
    reader = await api.register("reader")
    writer = await api.register("writer")
    await ok(await follow(api, reader, "writer"))
    await post_card(api, writer, "Something to page through")
    await refused(api, await api.client.get("/v1/feed"), 401, "token")
    r = await api.client.get("/v1/feed", params={"cursor": cursor}, headers=auth(reader))
    await refused(api, r, 400, "cursor")
    for limit in ("0", "101", "many"):
        r = await api.client.get("/v1/feed", params={"limit": limit}, headers=auth(reader))
        await refused(api, r, 400, "limit")


async def test_an_empty_feed_is_empty(api: Api) -> None:
    reader = await api.register("reader")
    assert await ok(await api.client.get("/v1/feed", headers=auth(reader))) == {"items": [], "next_cursor": None}


# -- notifications --------------------------------------------------------------------------------------


async def test_notifications_are_grouped_newest_first_and_never_self_caused(api: Api) -> None:
    ann = await api.register("ann")
    bumpers = {name: await api.register(name) for name in ("ben", "cat", "dan")}
    eve = await api.register("eve")
    shown = await post_card(api, ann, "Dragons")
    for token in bumpers.values():
        await favorite(api, token, shown["slug"])
        await a_moment()
    await favorite(api, ann, shown["slug"])  # one's own bump notifies nobody
    await a_moment()
    await ok(await follow(api, eve, "ann"))
    await a_moment()
    await ok(await comment(api, ann, shown["slug"], "my own comment, @ann"))  # nor one's own comment or mention

    got = await notifications(api, ann, "ann")
    assert [(n["kind"], n["text"], n["actor_count"]) for n in got["notifications"]] == [
        ("follow", "eve followed you", 1),
        ("bump", "dan and 2 others bumped \u201cDragons\u201d", 3),
    ]
    follow_n, bump_n = got["notifications"]
    assert bump_n["latest_actor"]["username"] == "dan"
    assert bump_n["article"] == {"id": shown["id"], "title": "Dragons"}
    assert follow_n["article"] is None
    assert follow_n["at"] > bump_n["at"]
    assert got["unread_count"] == 2 and all(n["unread"] for n in got["notifications"])

    r = await api.client.post("/v1/notifications/read", headers=auth(ann))
    assert (await ok(r))["read_up_to"] > 0
    got = await notifications(api, ann, "ann")
    assert got["unread_count"] == 0 and not any(n["unread"] for n in got["notifications"])

    await a_moment()
    await ok(await comment(api, eve, shown["slug"], "nice"))
    got = await notifications(api, ann, "ann")
    assert next((n["kind"], n["text"], n["unread"]) for n in got["notifications"]) == (
        "comment",
        "eve commented on \u201cDragons\u201d",
        True,
    )
    assert got["unread_count"] == 1
    # Marking read only moves forward: an older time does not make anything unread again.
    await ok(await api.client.post("/v1/notifications/read", headers=auth(ann)))
    await ok(await api.client.post("/v1/notifications/read", json={"up_to": 1}, headers=auth(ann)))
    assert (await notifications(api, ann, "ann"))["unread_count"] == 0


async def test_mentions_notify_the_mentioned_and_one_other_is_singular(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    cat = await api.register("cat")
    shown = await post_card(api, ann, "Wheels")
    await ok(await comment(api, ben, shown["slug"], "what do you think, @cat and @ben?"))
    got = await notifications(api, cat, "cat")
    assert [(n["kind"], n["text"]) for n in got["notifications"]] == [
        ("mention", "ben mentioned you in a comment on \u201cWheels\u201d")
    ]
    assert got["notifications"][0]["comment_id"] is not None
    assert (await notifications(api, ben, "ben"))["notifications"] == []
    await favorite(api, ben, shown["slug"])
    await favorite(api, cat, shown["slug"])
    texts = [n["text"] for n in (await notifications(api, ann, "ann"))["notifications"]]
    assert "cat and 1 other bumped \u201cWheels\u201d" in texts


async def test_notifications_are_private_and_hide_blocked_actors(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    cat = await api.register("cat")
    shown = await post_card(api, ann, "Dragons")
    await favorite(api, ben, shown["slug"])
    await a_moment()
    await favorite(api, cat, shown["slug"])
    await ok(await follow(api, cat, "ann"))
    await refused(api, await api.client.get("/v1/users/ann/notifications", headers=auth(ben)), 403, "notifications")
    await refused(api, await api.client.get("/v1/users/ann/notifications"), 401, "token")
    await refused(api, await api.client.get("/v1/users/nobody/notifications", headers=auth(ann)), 404, "user")
    await refused(api, await api.client.post("/v1/notifications/read"), 401, "token")
    before = await api.log_size()
    r = await api.client.post("/v1/notifications/read", json={"up_to": -1}, headers=auth(ann))
    await refused(api, r, 422, "up_to", before)
    r = await api.client.post("/v1/notifications/read", json={"up_to": "now"}, headers=auth(ann))
    await refused(api, r, 422, "up_to", before)

    await ok(await api.client.post("/v1/users/cat/block", headers=auth(ann)))
    got = await notifications(api, ann, "ann")
    assert [n["text"] for n in got["notifications"]] == ["ben bumped \u201cDragons\u201d"]
    assert got["unread_count"] == 1
    await ok(await api.client.delete("/v1/users/cat/block", headers=auth(ann)))
    got = await notifications(api, ann, "ann")
    assert {n["text"] for n in got["notifications"]} == {
        "cat followed you",
        "cat and 1 other bumped \u201cDragons\u201d",
    }


async def test_a_deleted_articles_notifications_go_away(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    shown = await post_card(api, ann, "Short-lived")
    await favorite(api, ben, shown["slug"])
    assert len((await notifications(api, ann, "ann"))["notifications"]) == 1
    r = await api.client.delete(f"/api/articles/{shown['slug']}", headers=auth(ann))
    assert r.status == 204
    assert await notifications(api, ann, "ann") == {"notifications": [], "unread_count": 0}
    await refused(api, await api.client.get(f"/v1/articles/{shown['id']}"), 404, "article")


async def test_a_deleted_comments_mention_goes_away(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    await api.register("cat")
    shown = await post_card(api, ann, "Mentions")
    r = await comment(api, ben, shown["slug"], "look @cat")
    comment_id = (await ok(r))["comment"]["id"]
    cat = (
        await ok(
            await api.client.post(
                "/api/users/login", json={"user": {"email": "cat@example.com", "password": "long-enough-pw"}}
            )
        )
    )["user"]["token"]
    assert [n["kind"] for n in (await notifications(api, cat, "cat"))["notifications"]] == ["mention"]
    r = await api.client.delete(f"/api/articles/{shown['slug']}/comments/{comment_id}", headers=auth(ben))
    assert r.status == 204
    assert (await notifications(api, cat, "cat"))["notifications"] == []


# -- blocks -------------------------------------------------------------------------------------------


async def test_block_and_unblock_are_idempotent(api: Api) -> None:
    ann = await api.register("ann")
    await api.register("ben")
    for _ in range(2):
        before = await api.log_size()
        assert await ok(await api.client.post("/v1/users/ben/block", headers=auth(ann))) == {
            "username": "ben",
            "blocked": True,
        }
    assert await api.log_size() == before + 1  # the second block is appended; the reducer settles it
    for _ in range(2):
        before = await api.log_size()
        assert await ok(await api.client.delete("/v1/users/ben/block", headers=auth(ann))) == {
            "username": "ben",
            "blocked": False,
        }
    assert await api.log_size() == before + 1
    before = await api.log_size()
    await refused(api, await api.client.post("/v1/users/ben/block"), 401, "token", before)
    await refused(api, await api.client.delete("/v1/users/ben/block"), 401, "token", before)
    await refused(api, await api.client.post("/v1/users/nobody/block", headers=auth(ann)), 404, "user", before)
    await refused(api, await api.client.post("/v1/users/ann/block", headers=auth(ann)), 422, "user", before)


async def test_a_blocked_user_cannot_follow_comment_on_or_mention_the_blocker(api: Api) -> None:
    ann = await api.register("ann")  # the blocker
    ben = await api.register("ben")  # blocked
    cat = await api.register("cat")
    anns = await api.publish(ann, "Ann's")
    cats = await api.publish(cat, "Cat's")
    await ok(await api.client.post("/v1/users/ben/block", headers=auth(ann)))

    before = await api.log_size()
    await refused(api, await follow(api, ben, "ann"), 403, "profile", before)
    r = await api.client.post(
        "/v1/events", json=[{"type": "UserFollowed", "followee_id": user_id(api, ann)}], headers=auth(ben)
    )
    await refused(api, r, 403, "events[0].followee_id", before)
    await refused(api, await comment(api, ben, anns["slug"], "hello"), 403, "article", before)
    await refused(api, await comment(api, ben, cats["slug"], "hey @ann look"), 403, "mention", before)

    # Others are not affected, and ben may still comment elsewhere without the mention.
    await ok(await comment(api, ben, cats["slug"], "hey @cat look"))
    await ok(await follow(api, cat, "ann"))
    await ok(await api.client.delete("/v1/users/ben/block", headers=auth(ann)))
    await ok(await follow(api, ben, "ann"))
    await ok(await comment(api, ben, anns["slug"], "hello again @ann"))


# -- follow requests -----------------------------------------------------------------------------------


async def test_follow_requests_are_listed_newest_first_and_answered_once_each(api: Api) -> None:
    ann, ben, cat = await api.register("ann"), await api.register("ben"), await api.register("cat")
    await ok(await api.client.put("/api/user", json={"user": {"private": True}}, headers=auth(ann)))
    await ok(await follow(api, ben, "ann"))
    await a_moment()
    await ok(await follow(api, cat, "ann"))
    listed = await ok(await api.client.get("/v1/follow-requests", headers=auth(ann)))
    assert [r["user"]["username"] for r in listed["requests"]] == ["cat", "ben"]
    assert [
        r["user"]["username"]
        for r in (await ok(await api.client.get("/v1/follow-requests?limit=1", headers=auth(ann))))["requests"]
    ] == ["cat"]
    assert (await ok(await api.client.get("/v1/follow-requests", headers=auth(ben)))) == {"requests": []}

    approved = await ok(await api.client.post("/v1/follow-requests/ben/approve", headers=auth(ann)))
    assert approved == {"username": "ben", "following": True, "approved": True}
    denied = await ok(await api.client.post("/v1/follow-requests/cat/deny", headers=auth(ann)))
    assert denied == {"username": "cat", "following": False, "approved": False}
    assert (await ok(await api.client.get("/v1/follow-requests", headers=auth(ann)))) == {"requests": []}

    before = await api.log_size()
    await refused(
        api, await api.client.post("/v1/follow-requests/cat/approve", headers=auth(ann)), 404, "follow request", before
    )
    await refused(
        api, await api.client.post("/v1/follow-requests/nobody/deny", headers=auth(ann)), 404, "follower", before
    )
    await refused(api, await api.client.post("/v1/follow-requests/ben/deny"), 401, "token", before)
    await refused(api, await api.client.get("/v1/follow-requests"), 401, "token", before)
    # A denial of an approved follower removes them.
    await ok(await api.client.post("/v1/follow-requests/ben/deny", headers=auth(ann)))
    profile = (await ok(await api.client.get("/api/profiles/ann", headers=auth(ben))))["profile"]
    assert (profile["following"], profile["requested"], profile["private"]) == (False, False, True)


# -- stats ---------------------------------------------------------------------------------------------


async def test_stats_count_followers_following_articles_and_bumps_received(api: Api) -> None:
    ann = await api.register("ann")
    ben = await api.register("ben")
    cat = await api.register("cat")
    first = await api.publish(ann, "One")
    second = await api.publish(ann, "Two")
    gone = await api.publish(ann, "Gone")
    await ok(await follow(api, ben, "ann"))
    await ok(await follow(api, cat, "ann"))
    await ok(await follow(api, ann, "ben"))
    for token in (ben, cat):
        await favorite(api, token, first["slug"])
    await favorite(api, ben, second["slug"])
    await favorite(api, ben, gone["slug"])
    assert (await api.client.delete(f"/api/articles/{gone['slug']}", headers=auth(ann))).status == 204
    assert await ok(await api.client.get("/v1/users/ann/stats")) == {
        "username": "ann",
        "stats": {"followers": 2, "following": 1, "articles": 2, "bumps_received": 3},
    }
    assert (await ok(await api.client.get("/v1/users/ben/stats")))["stats"] == {
        "followers": 1,
        "following": 1,
        "articles": 0,
        "bumps_received": 0,
    }
    await refused(api, await api.client.get("/v1/users/nobody/stats"), 404, "user")


# -- trending ------------------------------------------------------------------------------------------


async def test_trending_ranks_articles_and_tags_by_bumps_and_comments_in_the_window(api: Api) -> None:
    ann = await api.register("ann")
    others = [await api.register(name) for name in ("ben", "cat", "dan")]
    hot = await api.publish(ann, "Hot", tags=["rally", "cars"])
    warm = await api.publish(ann, "Warm", tags=["cars"])
    gone = await api.publish(ann, "Gone", tags=["gone"])
    cold = await post_card(api, ann, "Cold", tags=["cold"])
    for token in others:
        await favorite(api, token, hot["slug"])
    await ok(await comment(api, others[0], hot["slug"], "great"))
    await favorite(api, others[0], warm["slug"])
    await favorite(api, others[1], warm["slug"])
    await ok(await api.client.delete(f"/api/articles/{warm['slug']}/favorite", headers=auth(others[1])))
    await favorite(api, others[0], gone["slug"])
    await favorite(api, others[1], gone["slug"])
    assert (await api.client.delete(f"/api/articles/{gone['slug']}", headers=auth(ann))).status == 204

    for window in ("1h", "24h"):
        got = await ok(await api.client.get("/v1/trending", params={"window": window}))
        assert got["window"] == window
        assert [(a["article"]["title"], a["score"]) for a in got["articles"]] == [("Hot", 4), ("Warm", 1)]
        assert got["articles"][0]["article"]["counts"] == {"views": 0, "comments": 1, "bumps": 3}
        # A tag trends with the articles that carry it now: a deleted article's tags are gone with it.
        assert got["tags"] == [{"tag": "cars", "score": 5}, {"tag": "rally", "score": 4}]

    # A bump two hours old counts in the last day, not in the last hour.
    two_hours_ago = int(time.time() * 1000) - 2 * 3_600_000
    old_bump = ArticleBumped(
        event_id=new_event_id(), actor_id=user_id(api, others[2]), occurred_at=two_hours_ago, article_id=cold["id"]
    )
    assert (await api.client.app[PORTS].writer.append_and_wait([old_bump]))[1]
    hour = await ok(await api.client.get("/v1/trending", params={"window": "1h"}))
    day = await ok(await api.client.get("/v1/trending", params={"window": "24h"}))
    assert "Cold" not in [a["article"]["title"] for a in hour["articles"]]
    assert "cold" not in [t["tag"] for t in hour["tags"]]
    assert {a["article"]["title"]: a["score"] for a in day["articles"]} == {"Hot": 4, "Warm": 1, "Cold": 1}
    assert [a["score"] for a in day["articles"]] == [4, 1, 1]
    assert {"tag": "cold", "score": 1} in day["tags"]
    default = await ok(await api.client.get("/v1/trending"))
    assert default["window"] == "1h"
    limited = await ok(await api.client.get("/v1/trending", params={"limit": "1"}))
    assert [a["article"]["title"] for a in limited["articles"]] == ["Hot"] and len(limited["tags"]) == 1
    for window in ("5m", "7d", ""):
        await refused(api, await api.client.get("/v1/trending", params={"window": window}), 400, "window")


# -- search --------------------------------------------------------------------------------------------


async def test_search_finds_articles_users_and_tribes(api: Api) -> None:
    ann = await api.register("annabel")
    await api.register("annie")
    await api.register("bob")
    rally = await post_card(api, ann, "Rally driving basics", body="Left foot braking explained", tags=["rally"])
    await post_card(api, ann, "Gardening", body="Roses and tulips", tags=["garden"])
    await create_tribe(api, ann, "Rally Drivers")
    await create_tribe(api, ann, "Gardeners")

    async def titles(**params: str) -> list[str]:
        body = await ok(await api.client.get("/v1/search/articles", params=params))
        return [a["title"] for a in body["articles"]]

    assert await titles(q="rally") == ["Rally driving basics"]
    assert await titles(q="braking") == ["Rally driving basics"]  # a word of the body
    assert await titles(q="ROSES") == ["Gardening"]
    assert await titles(q="rally roses") == []  # every word must match
    assert await titles(tag="garden") == ["Gardening"]
    assert await titles(q="rally", tag="garden") == []
    assert await titles(q="submarines") == []
    r = await api.client.delete(f"/api/articles/{rally['slug']}", headers=auth(ann))
    assert r.status == 204
    assert await titles(q="rally") == []

    users = await ok(await api.client.get("/v1/search/users", params={"prefix": "ANN"}))
    assert [u["username"] for u in users["users"]] == ["annabel", "annie"]
    assert (await ok(await api.client.get("/v1/search/users", params={"prefix": "z"})))["users"] == []

    tribes = await ok(await api.client.get("/v1/search/tribes", params={"q": "rally"}))
    assert [t["name"] for t in tribes["tribes"]] == ["Rally Drivers"]

    for path, param in (("/v1/search/articles", "q"), ("/v1/search/users", "prefix"), ("/v1/search/tribes", "q")):
        await refused(api, await api.client.get(path), 400, param)
        await refused(api, await api.client.get(path, params={param: "  "}), 400, param)
