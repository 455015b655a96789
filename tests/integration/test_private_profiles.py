"""Private profiles through the services, on the real embedded adapters, with the projection held back at will.

ann goes private; ben followed her before, cat asks after. What each may read, the requests ann
answers, and what the services do when the views they consult are behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.catalogue import ArticlePublished
from events.codec import actor_of
from events.ids import new_event_id
from services import accounts, activity, articles, comments, feeds, notifications, social
from services.errors import NotFound
from services.stream import Authors, Hub, partitions_read
from services.writer import envelope
from tests.integration import held_back
from tests.integration.held_back import pending
from tests.sealed import sealed_codec


class World(held_back.World):
    async def private(self, user_id: str, on: bool = True) -> None:
        await accounts.update_user(self.ports, accounts.UpdateUser(user_id, private=on))
        await self.project()

    async def follow(self, user_id: str, username: str, on: bool = True) -> None:
        await social.follow(self.ports, user_id, username, on=on)
        await self.project()

    async def publish(self, author: str, title: str, tags: tuple[str, ...] = ()) -> str:
        """The new article's slug."""
        outcome = pending(await articles.publish(self.ports, articles.Publish(author, title, "d", "body", tags=tags)))
        await self.project()
        assert outcome.provisional is not None
        return str(outcome.provisional.article["slug"])

    async def listed(self, reader: str | None, tag: str | None = None) -> list[str]:
        page = await articles.listing(self.ports, articles.Listing(reader, tag=tag, limit=100))
        return [a.article["title"] for a in page.articles]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with held_back.opened(tmp_path, World) as world:
        yield world


async def test_followers_from_before_keep_access_and_later_ones_wait_for_approval(world: World) -> None:
    ann, ben, cat, dan = [await world.user(n) for n in ("ann", "ben", "cat", "dan")]
    await world.follow(ben, "ann")
    await world.private(ann)
    await world.follow(cat, "ann")
    slug = await world.publish(ann, "Quiet news", ("hush",))
    assert "Quiet news" in await world.listed(ben)
    assert await world.listed(cat) == await world.listed(dan) == await world.listed(None) == []
    for reader in (cat, dan, None):
        with pytest.raises(NotFound):
            await articles.get(world.ports, slug, reader)
        with pytest.raises(NotFound):
            await comments.listing(world.ports, slug, reader)
    assert [r.user["username"] for r in await social.follow_requests(world.ports, ann, 20)] == ["cat"]
    shown = await social.profile(world.ports, "ann", cat)
    assert (shown.following, shown.requested) == (False, True)
    await social.answer_request(world.ports, ann, "cat", approve=True)
    await world.project()
    assert "Quiet news" in await world.listed(cat)
    assert (await articles.get(world.ports, slug, cat)).article["title"] == "Quiet news"
    assert await social.follow_requests(world.ports, ann, 20) == []
    await world.follow(cat, "ann")  # a repeated follow keeps its approval
    assert "Quiet news" in await world.listed(cat, tag="hush")


async def test_a_denied_request_ends_and_going_public_turns_requests_into_follows(world: World) -> None:
    ann, cat, dan = [await world.user(n) for n in ("ann", "cat", "dan")]
    await world.private(ann)
    await world.follow(cat, "ann")
    await world.follow(dan, "ann")
    await world.publish(ann, "Members only")
    await social.answer_request(world.ports, ann, "dan", approve=False)
    await world.project()
    assert [r.user["username"] for r in await social.follow_requests(world.ports, ann, 20)] == ["cat"]
    assert not (await social.profile(world.ports, "ann", dan)).requested
    with pytest.raises(NotFound):
        await social.answer_request(world.ports, ann, "dan", approve=True)
    await world.private(ann, on=False)
    assert "Members only" in await world.listed(cat) and "Members only" in await world.listed(None)
    assert (await social.profile(world.ports, "ann", cat)).following
    await world.private(ann)  # private again: cat's follow began before, so it still opens her
    assert "Members only" in await world.listed(cat)
    assert "Members only" not in await world.listed(dan)


async def test_feeds_search_trending_and_notifications_leave_out_what_the_reader_may_not_read(world: World) -> None:
    ann, ben, cat = [await world.user(n) for n in ("ann", "ben", "cat")]
    await world.follow(ben, "ann")
    await world.private(ann)
    await world.follow(cat, "ann")
    slug = await world.publish(ann, "Zanzibar plans")
    await comments.post(world.ports, comments.Comment(ann, slug, "see @cat and @ben"))
    await articles.favorite(world.ports, ann, slug, on=True)
    await world.project()
    for reader, sees in ((ben, True), (cat, False)):
        feed = await feeds.feed(world.ports, reader, 20, 0)
        assert ("Zanzibar plans" in [a.article["title"] for a in feed.articles]) is sees
        ranked, _ = await feeds.ranked_feed(world.ports, reader, 20, None)
        assert ("Zanzibar plans" in [c.card["title"] for c in ranked]) is sees
        found = await activity.search_articles(world.ports, "Zanzibar", None, 10, reader)
        assert bool(found) is sees
        trending = await activity.trending(world.ports, "1h", 10, reader)
        assert bool(trending.articles) is sees
        inbox = await notifications.inbox(world.ports, reader, "ben" if reader == ben else "cat", 50)
        assert any(n.article_title == "Zanzibar plans" for n in inbox.notifications) is sees


async def test_a_page_of_a_list_is_filled_past_articles_the_reader_may_not_read(world: World) -> None:
    ann, bob = await world.user("ann"), await world.user("bob")
    await world.private(ann)
    await world.publish(bob, "Bob 1")
    await world.publish(bob, "Bob 2")
    for n in range(3):
        await world.publish(ann, f"Ann {n}")
    page = await articles.listing(world.ports, articles.Listing(None, limit=2))
    assert ([a.article["title"] for a in page.articles], page.total) == (["Bob 2", "Bob 1"], 2)
    page = await articles.listing(world.ports, articles.Listing(None, limit=1, offset=1))
    assert [a.article["title"] for a in page.articles] == ["Bob 1"]
    found = await activity.search_articles(world.ports, "Bob", None, 1, None)
    assert [c.card["title"] for c in found] == ["Bob 2"]


async def test_a_feed_page_is_filled_past_a_requested_private_authors_newer_articles(world: World) -> None:
    ann, bob, cat = [await world.user(n) for n in ("ann", "bob", "cat")]
    await world.private(ann)
    await world.follow(cat, "bob")
    await world.follow(cat, "ann")
    for title in ("Bob 1", "Bob 2", "Ann 1", "Ann 2", "Ann 3"):
        await world.publish(ann if title.startswith("Ann") else bob, title)
    page = await feeds.feed(world.ports, cat, 2, 0)
    assert ([a.article["title"] for a in page.articles], page.total) == (["Bob 2", "Bob 1"], 2)


# -- the read models consulted, stale ------------------------------------------------------------


async def test_going_private_takes_effect_on_reads_once_the_users_view_has_it(world: World) -> None:
    """Access reads the author's user document: until the users view has the event, the author reads as public."""
    ann = await world.user("ann")
    await world.publish(ann, "Said in public")
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(ann, private=True)))
    assert "Said in public" in await world.listed(None)
    await world.project()
    assert await world.listed(None) == []


async def test_an_approval_reads_the_follows_view_and_the_log_decides_what_it_answers(world: World) -> None:
    """A request the follows view does not show yet is not found (nothing appended); one ended since is left ended."""
    ann, cat = await world.user("ann"), await world.user("cat")
    await world.private(ann)
    pending(await social.follow(world.ports, cat, "ann", on=True))
    with pytest.raises(NotFound):
        await social.answer_request(world.ports, ann, "cat", approve=True)
    await world.project()
    pending(await social.follow(world.ports, cat, "ann", on=False))  # the view still shows the request
    pending(await social.answer_request(world.ports, ann, "cat", approve=True))
    await world.project()
    follow = (await world.ports.reads.follow_docs(cat, [ann]))[ann]
    assert (follow["active"], follow["approved"]) == (False, False)


async def test_the_stream_reads_who_is_private_from_the_users_view_once_per_batch(world: World) -> None:
    """Behind, the users view shows an author who just went private as public; one it does not hold, as private."""
    ann = await world.user("ann")
    await world.publish(ann, "First")
    ports = world.ports
    hub = Hub(ports.writer.log, sealed_codec(), Authors(ports.social), ports.reads)

    async def private_authors() -> frozenset[str]:
        heads = await ports.writer.log.end_offsets(partitions_read())
        entries = await ports.writer.log.read_many(dict.fromkeys(heads, 0), 1000)
        return (await hub.decode([e for got in entries.values() for e in got])).private

    assert await private_authors() == frozenset()
    pending(await accounts.update_user(ports, accounts.UpdateUser(ann, private=True)))
    assert await private_authors() == frozenset()
    await world.project()
    assert await private_authors() == {ann}
    await accounts.register(ports, accounts.Register("bob", "bob@example.com", "long-enough-pw"))
    bob = (await ports.writer.log.read("tribe.users", 0, 0, 100))[-1]
    bob_id = actor_of(bob.value)
    early = ArticlePublished(
        **envelope(bob_id), article_id=new_event_id(), slug="s", title="t", description="", body="b"
    )
    await ports.writer.append([early])  # what another API process could append before this one's view has bob
    assert bob_id in await private_authors()


async def test_follow_requests_are_listed_once_the_views_have_them(world: World) -> None:
    """The list reads the users view (is the user private, since when) and the follows view (the requests)."""
    ann, cat = await world.user("ann"), await world.user("cat")
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(ann, private=True)))
    pending(await social.follow(world.ports, cat, "ann", on=True))
    assert await social.follow_requests(world.ports, ann, 20) == []
    await world.project()
    assert [r.user["username"] for r in await social.follow_requests(world.ports, ann, 20)] == ["cat"]
