"""The hybrid feed (issue 15 item 2): delivered timelines for most authors and tribes, pull for the outliers.

Each test runs the real app (embedded log and store, the fan-out runner in the process) with a
small fan-out threshold, so an author with three followers is an outlier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from unittest.mock import patch

import pytest
from aiohttp.test_utils import TestClient

from api.requests import PORTS
from events.catalogue import FANOUT_ACTOR, ArticleDelivered, AudienceOutgrown, Event
from events.log import Position
from events.routing import topology
from projections.store import Doc, Page, Query
from projections.views import TIMELINES_VIEW
from replay.rebuild import compare, rebuild
from services.fanout import BACKFILL
from services.fanout_runner import CHECKPOINT, fanout_partitions
from services.writer import now_ms
from tests.e2e.conftest import Api, auth
from tests.sealed import sealed_codec
from tribe.bootstrap import create_app
from tribe.settings import Settings

THRESHOLD = 3


@pytest.fixture
async def api(aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> Api:
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, fanout_threshold=THRESHOLD
    )
    return Api(await aiohttp_client(create_app(settings)), settings.data_dir)


async def follow(api: Api, token: str, username: str, *, on: bool = True) -> None:
    method = api.client.post if on else api.client.delete
    r = await method(f"/api/profiles/{username}/follow", headers=auth(token))
    assert r.status == 200, await r.text()


async def feed_titles(api: Api, token: str, **params: str) -> tuple[list[str], int]:
    r = await api.client.get("/api/articles/feed", params=params, headers=auth(token))
    assert r.status == 200, await r.text()
    body = await r.json()
    return [a["title"] for a in body["articles"]], body["articlesCount"]


async def settle(api: Api) -> None:
    """Wait until the fan-out has decided on everything the log holds and every view reflects all of it."""
    ports = api.client.app[PORTS]
    log, progress = ports.writer.log, ports.writer.progress
    for _ in range(500):
        heads = await log.end_offsets([(t, p) for t, n in topology().counts for p in range(n)])
        decided = await progress.store.checkpoint(CHECKPOINT)
        positions = [Position(t, p, head - 1) for (t, p), head in heads.items() if head]
        if all(decided.get(tp, 0) >= heads[tp] for tp in fanout_partitions()) and await progress.wait(positions, 0.02):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the fan-out and the views did not settle")


async def fanned_out(api: Api) -> list[Event]:
    """The fan-out's events in the log."""
    log, codec = api.client.app[PORTS].writer.log, api.client.app[PORTS].writer.codec
    events: list[Event] = []
    for topic, n in topology().counts:
        for p in range(n):
            entries = await log.read(topic, p, 0, await log.end_offset(topic, p))
            events += await codec.decode_batch(e.value for e in entries)
    return [e for e in events if e.actor_id == FANOUT_ACTOR]


async def user_id(api: Api, username: str) -> str:
    holder = await api.client.app[PORTS].reads.holder("username", username)
    assert holder is not None
    return holder


async def timeline_of(api: Api, username: str) -> set[str]:
    """The article ids filed in a reader's timeline (delivered, not pulled)."""
    entries = await api.client.app[PORTS].timelines.timeline(await user_id(api, username), 100, by_author=False)
    return {e["article_id"] for e in entries}


async def ranked_titles(api: Api, token: str, **params: str) -> list[str]:
    r = await api.client.get("/v1/feed", params=params, headers=auth(token))
    assert r.status == 200, await r.text()
    return [item["title"] for item in (await r.json())["items"]]


async def test_a_follower_is_delivered_the_authors_past_and_new_articles(api: Api) -> None:
    ann, ben = await api.register("ann"), await api.register("ben")
    await api.publish(ann, "Old")
    await follow(api, ben, "ann")
    await api.publish(ann, "New")
    await settle(api)
    assert await feed_titles(api, ben) == (["New", "Old"], 2)
    deliveries = [e for e in await fanned_out(api) if isinstance(e, ArticleDelivered)]
    assert {(e.reason, e.readers) for e in deliveries} == {("author", (await user_id(api, "ben"),))}
    assert len(await timeline_of(api, "ben")) == 2


async def test_a_new_followers_feed_shows_the_backfill_while_the_follow_is_pulled_and_after(api: Api) -> None:
    """Found by driving a public Conduit front end: Your Feed showed all 25 articles of an author for the five
    minutes a new follow is pulled, then the 20 the backfill filed then, losing five a person had paged through."""
    ann, ben = await api.register("ann"), await api.register("ben")
    for n in range(BACKFILL + 5):
        await api.publish(ann, f"Article {n:02}")
    await follow(api, ben, "ann")
    await settle(api)
    newest = [f"Article {n:02}" for n in reversed(range(5, BACKFILL + 5))]
    assert await feed_titles(api, ben, limit=str(BACKFILL)) == (newest, BACKFILL)
    ranked_while_pulled = sorted(await ranked_titles(api, ben, limit=str(BACKFILL)))
    with patch("services.feeds.RECENT_FOLLOW_MS", 0):  # the pull of the follow has ended
        assert await feed_titles(api, ben, limit=str(BACKFILL)) == (newest, BACKFILL)
        assert sorted(await ranked_titles(api, ben, limit=str(BACKFILL))) == ranked_while_pulled == sorted(newest)


async def test_unfollow_block_and_deletion_leave_the_feed_without_touching_the_timeline(api: Api) -> None:
    ann, ben, cat = await api.register("ann"), await api.register("ben"), await api.register("cat")
    await follow(api, ben, "ann")
    await follow(api, ben, "cat")
    await api.publish(ann, "By ann")
    by_cat = await api.publish(cat, "By cat")
    await settle(api)
    assert (await feed_titles(api, ben))[0] == ["By cat", "By ann"]
    await follow(api, ben, "ann", on=False)
    assert await feed_titles(api, ben) == (["By cat"], 1)
    await follow(api, ben, "ann")
    r = await api.client.post("/v1/users/ben/block", headers=auth(ann))
    assert r.status == 200, await r.text()
    assert await feed_titles(api, ben) == (["By cat"], 1)
    r = await api.client.delete(f"/api/articles/{by_cat['slug']}", headers=auth(cat))
    assert r.status == 204
    assert await feed_titles(api, ben) == ([], 0)
    assert len(await timeline_of(api, "ben")) == 2  # nothing was removed per reader: the reads decide


async def docs_read(api: Api, path: str, token: str) -> tuple[list[str], int]:
    """The titles a feed shows, and how many documents the store handed over to answer it."""
    store = api.client.app[PORTS].timelines.store
    handed: list[int] = []
    get, get_many, search = store.get, store.get_many, store.search

    async def counted_get(collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        found = await get(collection, ids)
        handed.append(len(found))
        return found

    async def counted_get_many(ids: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Doc]]:
        found = await get_many(ids)
        handed.append(sum(map(len, found.values())))
        return found

    async def counted_search(collection: str, query: Query) -> Page:
        page = await search(collection, query)
        handed.append(len(page.docs))
        return page

    with patch.multiple(store, get=counted_get, get_many=counted_get_many, search=counted_search):
        r = await api.client.get(path, headers=auth(token))
    assert r.status == 200, await r.text()
    body = await r.json()
    return [a["title"] for a in body.get("articles", body.get("items"))], sum(handed)


async def test_a_feed_read_costs_the_same_however_many_block_the_reader(api: Api) -> None:
    """The feeds look a block up, both ways, for the authors of what they read: not every block of the reader."""
    ann, ben, cat = await api.register("ann"), await api.register("ben"), await api.register("cat")
    await follow(api, ben, "ann")
    await follow(api, ben, "cat")
    await api.publish(ann, "By ann")
    await api.publish(cat, "By cat")
    r = await api.client.post("/v1/users/cat/block", headers=auth(ben))
    assert r.status == 200, await r.text()
    await settle(api)
    before = [await docs_read(api, path, ben) for path in ("/api/articles/feed", "/v1/feed")]
    assert [titles for titles, _ in before] == [["By ann"], ["By ann"]]
    for n in range(8):
        r = await api.client.post("/v1/users/ben/block", headers=auth(await api.register(f"hater{n}")))
        assert r.status == 200, await r.text()
    await settle(api)
    assert [await docs_read(api, path, ben) for path in ("/api/articles/feed", "/v1/feed")] == before


async def test_an_author_whose_followers_reach_the_threshold_is_pulled_not_delivered(api: Api) -> None:
    star = await api.register("star")
    fans = [await api.register(f"fan{n}") for n in range(THRESHOLD)]
    for fan in fans:
        await follow(api, fan, "star")
    await api.publish(star, "Big news")
    await settle(api)
    fanned = await fanned_out(api)
    assert [(e.kind, e.source_id) for e in fanned if isinstance(e, AudienceOutgrown)] == [
        ("author", await user_id(api, "star"))
    ]
    # The publication is delivered to nobody. (A fan's follow decided before it may have backfilled it.)
    assert not [e for e in fanned if isinstance(e, ArticleDelivered) and e.event_id.endswith(".author.0")]
    for fan in fans:
        assert await feed_titles(api, fan) == (["Big news"], 1)
    late = await api.register("late")
    await follow(api, late, "star")
    await settle(api)
    assert await feed_titles(api, late) == (["Big news"], 1)
    assert await timeline_of(api, "late") == set()  # an outlier's articles are not backfilled either


async def test_a_feed_merges_what_was_delivered_with_what_is_pulled_and_shows_both_to_the_reader(api: Api) -> None:
    """The pulled articles' cards come from a read of their own (services/feeds.py): their order among the
    delivered ones, their authors' `following` and the reader's bumps of them are those of one feed."""
    star, plain = await api.register("star"), await api.register("plain")
    fans = [await api.register(f"fan{n}") for n in range(THRESHOLD)]
    for fan in fans:
        await follow(api, fan, "star")
    await follow(api, fans[0], "plain")
    await settle(api)  # star is an outlier before it publishes: its article is pulled, never delivered
    await api.publish(plain, "Plain first")
    starred = await api.publish(star, "Star second")
    await api.publish(plain, "Plain third")
    r = await api.client.post(f"/api/articles/{starred['slug']}/favorite", headers=auth(fans[0]))
    assert r.status == 200, await r.text()
    await settle(api)
    assert len(await timeline_of(api, "fan0")) == 2  # plain's two delivered; star's is pulled
    r = await api.client.get("/api/articles/feed", headers=auth(fans[0]))
    assert r.status == 200, await r.text()
    articles = (await r.json())["articles"]
    shown = [(a["title"], a["author"]["username"], a["author"]["following"], a["favorited"]) for a in articles]
    assert shown == [
        ("Plain third", "plain", True, False),
        ("Star second", "star", True, True),
        ("Plain first", "plain", True, False),
    ]
    assert await feed_titles(api, fans[0], limit="1", offset="1") == (["Star second"], 3)
    r = await api.client.post("/v1/users/fan0/block", headers=auth(star))
    assert r.status == 200, await r.text()
    assert await feed_titles(api, fans[0]) == (["Plain third", "Plain first"], 2)


async def test_a_wider_read_keeps_what_is_pulled_and_the_first_learns_only_the_outliers(api: Api) -> None:
    """The feed's later reads (services/feeds.py), when an unfollowed author's entries fill the first, read one
    window of the delivered and the pulled; the first read's get names as pulled only the outliers followed."""
    star, plain, gone = await api.register("star"), await api.register("plain"), await api.register("gone")
    fans = [await api.register(f"fan{n}") for n in range(THRESHOLD)]
    for fan in fans:
        await follow(api, fan, "star")
    await follow(api, fans[0], "plain")
    await follow(api, fans[0], "gone")
    await settle(api)
    await api.publish(plain, "Plain first")
    await api.publish(star, "Star second")
    await api.publish(plain, "Plain third")
    await api.publish(gone, "Gone fourth")
    await api.publish(gone, "Gone fifth")
    await settle(api)
    await follow(api, fans[0], "gone", on=False)
    await settle(api)
    later = now_ms() + 3_600_000  # no follow is recent: only the outlier is pulled
    with patch("services.feeds.now_ms", return_value=later):
        # A window of two reads gone's two entries; the second, of four, finds plain's beside the star's.
        assert await feed_titles(api, fans[0], limit="1") == (["Plain third"], 3)
        assert await feed_titles(api, fans[0], limit="1", offset="1") == (["Star second"], 3)
    timelines = api.client.app[PORTS].timelines
    reader, plain_id = await user_id(api, "fan0"), await user_id(api, "plain")
    delivered = {e["article_id"]: e["author_id"] for e in await timelines.timeline(reader, 10, by_author=True)}
    assert plain_id in delivered.values()
    _, pulling = await timelines.window_and_pulled_authors(reader, delivered, later)
    assert pulling == await timelines.pulled_authors(reader, later)
    assert (pulling.outliers, pulling.recent) == ([await user_id(api, "star")], [])


async def test_a_tribes_articles_reach_its_members_in_the_ranked_feed_until_they_leave(api: Api) -> None:
    ann, ben = await api.register("ann"), await api.register("ben")
    r = await api.client.post("/v1/tribes", json={"name": "Cars", "description": ""}, headers=auth(ann))
    tribe = (await r.json())["tribe"]
    r = await api.client.post(f"/v1/tribes/{tribe['id']}/join", headers=auth(ben))
    assert r.status == 200, await r.text()
    r = await api.client.post("/v1/articles", json={"title": "V8", "body": "b", "tribe_id": tribe["id"]},
                              headers=auth(ann))
    assert r.status == 201, await r.text()
    await settle(api)
    assert await ranked_titles(api, ben) == ["V8"]
    assert await feed_titles(api, ben) == ([], 0)  # Conduit's feed is followed authors only
    r = await api.client.post(f"/v1/tribes/{tribe['id']}/leave", headers=auth(ben))
    assert r.status == 200, await r.text()
    assert await ranked_titles(api, ben) == []


async def test_a_rebuilt_timelines_view_equals_the_live_one(api: Api) -> None:
    ann, ben, cat = await api.register("ann"), await api.register("ben"), await api.register("cat")
    for reader in (ben, cat):
        await follow(api, reader, "ann")
    for n in range(5):
        await api.publish(ann, f"Article {n}")
    await settle(api)
    await follow(api, cat, "ann", on=False)
    await api.publish(ann, "After")
    await settle(api)
    ports = api.client.app[PORTS]
    store = ports.writer.progress.store
    result = await rebuild(ports.writer.log, store, sealed_codec(), TIMELINES_VIEW, switch=False)
    assert await compare(store, TIMELINES_VIEW, TIMELINES_VIEW.version, result.version) == []
    rebuilt = [d async for d in store.every(TIMELINES_VIEW.physical("timeline", result.version), Query(size=100))]
    delivered = {(r, e.article_id) for e in await fanned_out(api) if isinstance(e, ArticleDelivered) for r in e.readers}
    assert {(d.body["reader_id"], d.body["article_id"]) for d in rebuilt} == delivered
    assert len(delivered) == 11
