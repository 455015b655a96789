"""The services without HTTP, on the real embedded adapters, with the projection held back at will.

The embedded runtime is not started: `project()` runs one pass of it, so a test decides when the
read models catch up and can check what a service does while they are behind (tests/integration/held_back.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from projections.queries import TAGS_REFRESH, ReadModels
from projections.store import Query, StoreUnavailable
from services import accounts, articles, comments, erasure, rules, social, tribes
from services.errors import Forbidden, Invalid, NotFound, Unavailable
from services.outcome import Projected, Written
from tests.integration import held_back
from tests.integration.held_back import pending


class World(held_back.World):
    async def article(self, author: str, title: str = "Hill climb") -> str:
        await articles.publish(self.ports, articles.Publish(author, title, "d", "b"))
        await self.project()
        page = await articles.listing(self.ports, articles.Listing(None, limit=100))
        return next(a.article["slug"] for a in page.articles if a.article["title"] == title)

    async def tagged(self, author: str, title: str, tag: str) -> Written:
        """An article of `author` with one tag, projected; where it was written."""
        outcome = await articles.publish(self.ports, articles.Publish(author, title, "d", "b", tags=[tag]))
        await self.project()
        return outcome.written


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with held_back.opened(tmp_path, World) as world:
        yield world


async def test_a_favorite_then_an_unfavorite_while_the_projection_is_behind_ends_unfavorited(world: World) -> None:
    author, reader = await world.user("ann"), await world.user("ben")
    slug = await world.article(author)
    # The projection is held back: both writes are durable but neither is projected.
    pending(await articles.favorite(world.ports, reader, slug, on=True))
    pending(await articles.favorite(world.ports, reader, slug, on=False))
    await world.project()
    shown = await articles.get(world.ports, slug, reader)
    assert (shown.favorited, shown.article["favorites_count"]) == (False, 0)


async def test_an_unfollow_right_after_a_follow_is_not_lost_when_the_view_is_behind(world: World) -> None:
    await world.user("ann")
    reader = await world.user("ben")
    pending(await social.follow(world.ports, reader, "ann", on=True))
    pending(await social.follow(world.ports, reader, "ann", on=False))
    await world.project()
    assert not (await social.profile(world.ports, "ann", reader)).following


async def test_a_leave_right_after_a_join_is_not_lost_when_the_view_is_behind(world: World) -> None:
    owner, member = await world.user("ann"), await world.user("ben")
    pending(await tribes.create(world.ports, tribes.CreateTribe(owner, "Old cars")))
    await world.project()
    tribe_id = (await tribes.page(world.ports, None, 10, None, member))[0][0].tribe["tribe_id"]
    pending(await tribes.membership(world.ports, member, tribe_id, join=True))
    pending(await tribes.membership(world.ports, member, tribe_id, join=False))
    await world.project()
    shown = await tribes.view(world.ports, tribe_id, member)
    assert (shown.joined, shown.tribe["member_count"]) == (False, 1)


async def test_repeated_toggles_once_projected_change_nothing(world: World) -> None:
    author, reader = await world.user("ann"), await world.user("ben")
    slug = await world.article(author)
    for _ in range(2):
        pending(await articles.favorite(world.ports, reader, slug, on=True))
    await world.project()
    shown = await articles.get(world.ports, slug, reader)
    assert (shown.favorited, shown.article["favorites_count"]) == (True, 1)


async def test_once_projected_a_write_answers_with_the_read_model(world: World) -> None:
    author = await world.user("ann")
    slug = await world.article(author)
    world.ports.writer.wait_seconds = 10.0
    running = asyncio.create_task(world.runtime.run())
    try:
        outcome = await articles.favorite(world.ports, author, slug, on=True)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert isinstance(outcome, Projected)
    assert outcome.value.favorited and outcome.value.article["favorites_count"] == 1
    assert outcome.written.positions


# -- reads a service relies on, when they are stale -------------------------------------------------


async def test_registration_when_the_handles_view_is_behind_is_decided_by_the_log(world: World) -> None:
    """Both claims of one username are appended; the first in the log keeps it, the second finds it taken."""
    first = pending(await accounts.register(world.ports, accounts.Register("ann", "a1@example.com", "long-enough-pw")))
    second = pending(await accounts.register(world.ports, accounts.Register("ann", "a2@example.com", "long-enough-pw")))
    assert first.written.positions[0] < second.written.positions[0]
    await world.project()
    holder = await world.ports.reads.user_by("username", "ann")
    assert holder is not None and holder["email"] == "a1@example.com"
    with pytest.raises(Invalid, match="taken"):
        await accounts.register(world.ports, accounts.Register("ann", "a3@example.com", "long-enough-pw"))


async def test_an_erasure_right_after_a_username_change_the_users_view_lacks_frees_both_names(world: World) -> None:
    """The erasure lists the handles to free: a name the users view has not folded yet would stay the erased user's."""
    user = await world.user("ann")
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(user, username="anna")))
    world.ports.writer.wait_seconds = 10.0
    erasing = asyncio.create_task(erasure.erase_account(world.ports, user, "long-enough-pw"))
    await asyncio.sleep(0.1)  # the erasure reads the users view, which has not folded the change
    running = asyncio.create_task(world.runtime.run())
    try:
        assert isinstance(await erasing, Projected)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert [await world.ports.reads.holder("username", name) for name in ("ann", "anna")] == [None, None]


async def test_an_erasure_the_users_view_stays_behind_for_is_refused_and_changes_nothing(world: World) -> None:
    user = await world.user("ann")
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(user, username="anna")))
    with pytest.raises(Unavailable, match="users view is behind"):
        await erasure.erase_account(world.ports, user, "long-enough-pw")
    await world.project()
    assert await world.ports.reads.holder("username", "anna") == user
    assert await world.ports.reads.user(user) is not None


async def test_a_username_of_older_rules_sent_back_unchanged_does_not_stop_a_settings_save(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conduit's settings form sends the whole user back: a name registered before `..` was refused is the user's
    own still, not a new one the rules judge; taking a name of that kind anew is refused."""
    with monkeypatch.context() as older_rules:
        older_rules.setattr(rules, "_USERNAME", re.compile(r"[A-Za-z0-9_.\-]{1,64}"))
        user = await world.user("..")
    await accounts.update_user(world.ports, accounts.UpdateUser(user, username="..", bio="still here"))
    await world.project()
    assert (await world.ports.reads.user(user) or {}).get("bio") == "still here"
    with pytest.raises(Invalid):
        await accounts.update_user(world.ports, accounts.UpdateUser(user, username="."))


async def test_a_name_of_older_rules_the_stale_handles_view_shows_as_the_users_own_is_settled_by_the_log(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handles view is behind a rename away from a name of older rules: it still shows that name as the user's,
    so sending it back is not judged by today's rules. The log settles it: a name the user leaves stays theirs
    (reducers/users.py), so the users reducer gives it back to them, and to no one else."""
    with monkeypatch.context() as older_rules:
        older_rules.setattr(rules, "_USERNAME", re.compile(r"[A-Za-z0-9_.\-]{1,64}"))
        user = await world.user("..")
    other = await world.user("ben")
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(user, username="anna")))
    assert await world.ports.reads.holder("username", "..") == user  # the view has not folded the rename
    pending(await accounts.update_user(world.ports, accounts.UpdateUser(user, username="..")))
    with pytest.raises(Invalid, match=re.escape("not . or ..")):  # today's rules judge anyone else's claim of it
        await accounts.update_user(world.ports, accounts.UpdateUser(other, username=".."))
    await world.project()
    assert [await world.ports.reads.holder("username", name) for name in ("..", "anna")] == [user, user]
    assert (await world.ports.reads.user(user) or {}).get("username") == ".."


async def test_editing_an_article_the_view_does_not_show_yet_is_not_found(world: World) -> None:
    """Ownership is read from the articles view; authorship never changes, so stale means unknown: 404."""
    author = await world.user("ann")
    await articles.publish(world.ports, articles.Publish(author, "Fresh", "d", "b"))
    with pytest.raises(NotFound):
        await articles.edit(world.ports, articles.Edit(author, "fresh-anything", title="New"))
    await world.project()
    intruder = await world.user("eve")
    slug = (await articles.listing(world.ports, articles.Listing(None))).articles[0].article["slug"]
    with pytest.raises(Forbidden):
        await articles.edit(world.ports, articles.Edit(intruder, slug, title="Mine now"))


async def test_a_block_not_projected_yet_does_not_stop_a_follow_but_hides_it_once_projected(world: World) -> None:
    """The block check reads the blocks view; a block made a moment ago is enforced once projected."""
    ann, ben = await world.user("ann"), await world.user("ben")
    pending(await social.block(world.ports, ann, "ben", on=True))
    pending(await social.follow(world.ports, ben, "ann", on=True))  # the view does not show the block yet
    await world.project()
    with pytest.raises(Forbidden):
        await social.follow(world.ports, ben, "ann", on=True)
    with pytest.raises(Forbidden):
        await comments.post(world.ports, comments.Comment(ben, await world.article(ann), "hi"))
    assert await world.ports.social.hidden_among(ann, [ben]) == {ben}
    assert await world.ports.social.hidden_among(ben, [ann]) == {ann}


# -- answers built from the event when the views are behind -------------------------------------------


async def test_writes_the_views_have_not_reflected_answer_from_the_event(world: World) -> None:
    """Publish, edit, favorite, comment and follow still give the client its answer, marked pending."""
    author, reader = await world.user("ann"), await world.user("ben")
    slug = await world.article(author, "Hill climb")

    published = pending(await articles.publish(world.ports, articles.Publish(author, "Fresh", "d", "b", tags=["v8"])))
    assert published.provisional is not None
    assert (published.provisional.article["title"], published.provisional.article["tags"]) == ("Fresh", ["v8"])
    assert published.provisional.author.user["username"] == "ann"

    edited = pending(await articles.edit(world.ports, articles.Edit(author, slug, body="new body")))
    assert edited.provisional is not None
    assert (edited.provisional.article["title"], edited.provisional.article["body"]) == ("Hill climb", "new body")

    bumped = pending(await articles.favorite(world.ports, reader, slug, on=True))
    assert bumped.provisional is not None
    assert (bumped.provisional.favorited, bumped.provisional.article["favorites_count"]) == (True, 1)

    commented = pending(await comments.post(world.ports, comments.Comment(reader, slug, "nice")))
    assert commented.provisional is not None
    assert (commented.provisional.comment["body"], commented.provisional.author.user["username"]) == ("nice", "ben")

    followed = pending(await social.follow(world.ports, reader, "ann", on=True))
    assert followed.provisional is not None and followed.provisional.following

    await world.project()
    assert (await articles.get(world.ports, slug, reader)).article["favorites_count"] == 1


async def test_a_registration_the_users_view_has_not_reflected_has_no_answer_but_its_position(world: World) -> None:
    """The log decides who gets a name: until the users view shows it, there is no account to answer with."""
    outcome = pending(await accounts.register(world.ports, accounts.Register("cat", "c@example.com", "long-enough-pw")))
    assert outcome.provisional is None and outcome.written.positions


async def test_the_tag_list_is_served_up_to_its_refresh_old_and_at_once_to_a_reader_after_a_write(
    world: World,
) -> None:
    """/api/tags aggregates every live article, so a process computes it at most every TAGS_REFRESH seconds
    (ReadModels.tags): a reader without X-Tribe-After may see a list that old, one with it sees their write."""
    now = [0.0]
    reads = ReadModels(world.ports.reads.store, world.ports.reads.handle_id, clock=lambda: now[0])
    ports = dataclasses.replace(world.ports, reads=reads)
    author = await world.user("ann")
    await world.tagged(author, "One", "cars")
    assert await articles.tags(ports) == ["cars"]
    bikes = await world.tagged(author, "Two", "bikes")
    now[0] += TAGS_REFRESH - 0.1
    assert await articles.tags(ports) == ["cars"]  # kept: computed less than TAGS_REFRESH ago
    assert sorted(await articles.tags(ports, after=bikes.positions)) == ["bikes", "cars"]
    await world.tagged(author, "Three", "vans")
    now[0] += TAGS_REFRESH - 0.1
    assert sorted(await articles.tags(ports)) == ["bikes", "cars"]
    now[0] += 0.1
    assert sorted(await articles.tags(ports)) == ["bikes", "cars", "vans"]
    now[0] += TAGS_REFRESH
    assert sorted(await articles.tags(ports)) == ["bikes", "cars", "vans"]  # nothing written since: kept


async def test_requests_for_the_tag_list_while_it_is_computed_share_one_computation(world: World) -> None:
    await world.tagged(await world.user("ann"), "One", "cars")
    store = world.ports.reads.store
    terms = store.terms
    computed = 0

    async def counted(collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        nonlocal computed
        computed += 1
        await asyncio.sleep(0.05)
        return await terms(collection, field, query, size)

    store.terms = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(articles.tags(world.ports) for _ in range(5)))
    assert answers == [["cars"]] * 5 and computed == 1


async def test_a_tag_list_that_failed_to_compute_is_not_served_again(world: World) -> None:
    await world.tagged(await world.user("ann"), "One", "cars")
    store = world.ports.reads.store
    terms = store.terms

    async def unavailable(collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        raise StoreUnavailable("the store does not answer", 1.0)

    store.terms = unavailable  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await world.ports.reads.tags()
    store.terms = terms  # type: ignore[method-assign]
    assert await world.ports.reads.tags() == ["cars"]
