"""Engagement documents (reducers/engagement.py): exact counts under partial writes, and a constant cost per bump.

The partial-write property simulates a store whose bulk writes are not atomic (Elasticsearch):
a batch is folded, any subset of the documents it changed is kept (with their versions), the
rest is lost, and the runtime redelivers the batch from the checkpoint before it. The result
must be the documents one clean write gives. tests/contract/test_partial_writes.py runs the
same property through the Projector against the store adapters.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    ArticleUnbumped,
    CommentPosted,
    Event,
    FollowDenied,
    TribeCreated,
    TribeJoined,
    UserFollowed,
)
from events.routing import source_of
from projections.views import VIEWS
from reducers.articles import ArticlesReducer
from reducers.base import Reducer, State, fold
from reducers.engagement import RECENT, Step, step
from reducers.follows import FOLLOWER_COUNTS, FOLLOWS, RECENT_FOLLOWS, FollowsReducer, follower_count_id
from reducers.notifications import NotificationsReducer
from reducers.trending import TrendingReducer
from reducers.tribes import TribesReducer
from tests.unit.event_strategies import ENGAGEMENT_LOGS, engagement_logs, replay, versioned

PROPERTY = settings(max_examples=60, deadline=None)
REDUCERS: dict[str, Reducer] = {view.name: view.reducer for view in VIEWS if view.name in ENGAGEMENT_LOGS}


def _log(data: st.DataObject, name: str) -> list[tuple[int, Event]]:
    return versioned(data.draw(engagement_logs(name), label="events"))


def _partial(data: st.DataObject, before: State, written: State, label: str) -> State:
    """`before` with any subset of a batch's writes kept, at their versions; the others lost."""
    keys = sorted(written)
    kept = data.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)), label=label)
    return {**before, **{key: written[key] for key, keep in zip(keys, kept) if keep}}


# -- (a) a cut write, redelivered, gives the clean documents ---------------------------------------


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_redelivering_a_batch_after_any_partial_write_gives_the_documents_of_one_clean_write(
    name: str, data: st.DataObject
) -> None:
    reducer = REDUCERS[name]
    pairs = _log(data, name)
    start = data.draw(st.integers(0, len(pairs)), label="batch start")
    end = data.draw(st.just(len(pairs)) | st.integers(start, len(pairs)), label="batch end")
    before = replay(reducer, pairs[:start])
    clean = fold(reducer, before, pairs[start:end])
    drawn = _partial(data, before, clean, "kept")
    # Besides the drawn split, every split that loses one write or keeps one: a count that depends
    # on another document fails where that document is kept and the count's is lost.
    splits = [drawn, *({**before, key: clean[key]} for key in clean)]
    splits += [{**before, **{k: v for k, v in clean.items() if k != key}} for key in clean]
    for partial in splits:
        assert replay(reducer, pairs[start:end], partial) == {**before, **clean}


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_after_cut_writes_of_any_redeliveries_the_end_of_the_log_is_the_same(name: str, data: st.DataObject) -> None:
    """Each redelivery starts at the checkpoint before the first cut batch and may reach further; any may be cut."""
    reducer = REDUCERS[name]
    pairs = _log(data, name)
    start = data.draw(st.integers(0, len(pairs)), label="checkpoint")
    state = replay(reducer, pairs[:start])
    for attempt in range(data.draw(st.integers(1, 3), label="cut writes")):
        end = data.draw(st.just(len(pairs)) | st.integers(start, len(pairs)), label=f"attempt {attempt} reaches")
        state = _partial(data, state, fold(reducer, state, pairs[start:end]), f"attempt {attempt} kept")
    assert replay(reducer, pairs[start:], state) == replay(reducer, pairs)


# -- (b) the engagement step ----------------------------------------------------------------------


def _bump(n: int, cls: type[ArticleBumped | ArticleUnbumped] = ArticleBumped) -> Event:
    return cls(event_id=f"b{n}", actor_id="u2", occurred_at=1_700_000_000_000 + n, article_id="a1")


def test_a_step_reads_the_state_before_an_event_the_document_already_reflects() -> None:
    first = step(None, _bump(1), True)
    assert (first.before, first.after, first.delta) == (False, True, 1)
    doc = {"active": True, "recent": first.recent or []}
    second = step(doc, _bump(2, ArticleUnbumped), False)
    assert (second.delta, second.recent) == (-1, [*doc["recent"], "11700000000002:b2"])
    ahead = {"active": False, "recent": second.recent or []}
    assert step(ahead, _bump(1), True) == Step(False, True, None)  # redelivered: still +1
    assert step(ahead, _bump(2, ArticleUnbumped), False) == Step(True, False, None)  # still -1
    assert step(ahead, _bump(3), True).delta == 1  # a newer event: from the document's state


def test_a_document_remembers_its_latest_events_only() -> None:
    doc = None
    for n in range(RECENT + 5):
        moved = step(doc, _bump(n), True)
        doc = {"active": moved.after, "recent": moved.recent or []}
    assert doc is not None and len(doc["recent"]) == RECENT
    assert doc["recent"][-1].endswith(f":b{RECENT + 4}") and doc["recent"][0].endswith(":b5")


def test_a_once_only_state_remembers_only_the_event_that_set_it() -> None:
    comment = CommentPosted(event_id="c1", actor_id="u2", occurred_at=1, article_id="a1", comment_id=11, body="b")
    first = step(None, comment, True, once=True)
    doc = {"active": True, "recent": first.recent or []}
    again = CommentPosted(event_id="c2", actor_id="u2", occurred_at=2, article_id="a1", comment_id=12, body="b")
    assert step(doc, again, True, once=True) == Step(True, True, None)
    assert step(doc, comment, True, once=True).delta == 1


# -- (c) one more bump costs the same whatever the number before it ------------------------------------


def _written_by_one_more_bump(reducer: Reducer, bumpers: int) -> int:
    """Bytes of JSON the fold writes for one more user's bump of an article `bumpers` users bump already."""
    publish = ArticlePublished(
        event_id="p",
        actor_id="author",
        occurred_at=1,
        article_id="a1",
        slug="s",
        title="t",
        description="d",
        body="b",
        tags=("x", "y"),
    )
    bumps = [
        ArticleBumped(event_id=f"b{i:06d}", actor_id=f"u{i:06d}", occurred_at=2, article_id="a1")
        for i in range(bumpers)
    ]
    state = replay(reducer, [(n + 1, e) for n, e in enumerate([publish, *bumps])])
    one_more = ArticleBumped(event_id="b999999", actor_id="u999999", occurred_at=3, article_id="a1")
    changed = fold(reducer, state, [(bumpers + 2, one_more)])
    return sum(len(orjson.dumps(v.body)) for v in changed.values())


@pytest.mark.parametrize("reducer", [ArticlesReducer(), NotificationsReducer(), TrendingReducer()], ids=type)
def test_the_bytes_one_bump_writes_are_the_same_at_ten_and_at_ten_thousand_bumpers(reducer: Reducer) -> None:
    """Every view that reads bumps: only the digits of its counts grow (trending's two buckets hold six of them)."""
    small, large = _written_by_one_more_bump(reducer, 10), _written_by_one_more_bump(reducer, 10_000)
    assert small > 0 and abs(large - small) <= 24, (small, large)


def test_joining_a_tribe_of_ten_thousand_writes_what_joining_one_of_ten_does() -> None:
    def written(members: int) -> int:
        create = TribeCreated(event_id="c", actor_id="owner", occurred_at=1, tribe_id="t1", name="Cars", description="")
        joins = [
            TribeJoined(event_id=f"j{i:06d}", actor_id=f"u{i:06d}", occurred_at=2, tribe_id="t1")
            for i in range(members)
        ]
        state = replay(TribesReducer(), [(n + 1, e) for n, e in enumerate([create, *joins])])
        one_more = TribeJoined(event_id="j999999", actor_id="u999999", occurred_at=3, tribe_id="t1")
        changed = fold(TribesReducer(), state, [(members + 2, one_more)])
        assert len(changed) == 2  # the tribe's count and the newcomer's membership
        return sum(len(orjson.dumps(v.body)) for v in changed.values())

    assert abs(written(10_000) - written(10)) <= 4


@PROPERTY
@given(data=st.data())
def test_a_users_follower_counters_add_up_to_their_active_follows(data: st.DataObject) -> None:
    """Summed over the follows topic's partitions, a followee's counters are their active follows, whatever the log."""
    state = replay(REDUCERS["follows"], _log(data, "follows"))
    counted: dict[str, int] = {}
    for (collection, _), doc in state.items():
        if collection == FOLLOWER_COUNTS:
            counted[doc.body["user_id"]] = counted.get(doc.body["user_id"], 0) + doc.body["count"]
    active: dict[str, int] = {}
    for (collection, _), doc in state.items():
        if collection == FOLLOWS and doc.body["active"]:
            active[doc.body["followee_id"]] = active.get(doc.body["followee_id"], 0) + 1
    assert {user: n for user, n in counted.items() if n} == active


def test_an_answer_to_no_follow_redelivered_after_its_batch_kept_a_later_follow_moves_no_counter() -> None:
    """The answer once wrote nothing, so redelivered it found the later follow and took it for its own: -1."""
    reducer = FollowsReducer()
    earlier = UserFollowed(event_id="f1", actor_id="u3", occurred_at=1, followee_id="u4")
    before = replay(reducer, [(1, earlier)])
    batch: list[tuple[int, Event]] = [
        (2, FollowDenied(event_id="d1", actor_id="u4", occurred_at=2, follower_id="u2")),
        (3, UserFollowed(event_id="f2", actor_id="u2", occurred_at=3, followee_id="u4")),
    ]
    clean = fold(reducer, before, batch)
    follow, counter = (FOLLOWS, "u2:u4"), (FOLLOWER_COUNTS, follower_count_id("u4", source_of(earlier)[1]))
    assert clean[counter].body["count"] == 2  # u2's follows and u3's share a partition: one counter
    cut = {**before, follow: clean[follow]}
    assert replay(reducer, batch, cut) == {**before, **clean}
    assert not fold(reducer, before, batch[:1])[follow].body["active"]


def test_following_a_user_of_ten_thousand_followers_writes_what_following_one_of_ten_does() -> None:
    def written(followers: int) -> int:
        follows = [
            UserFollowed(event_id=f"f{i:06d}", actor_id=f"u{i:06d}", occurred_at=2, followee_id="star")
            for i in range(followers)
        ]
        state = replay(FollowsReducer(), [(n + 1, e) for n, e in enumerate(follows)])
        one_more = UserFollowed(event_id="f999999", actor_id="u999999", occurred_at=3, followee_id="star")
        changed = fold(FollowsReducer(), state, [(followers + 2, one_more)])
        assert {collection for collection, _ in changed} == {FOLLOWS, RECENT_FOLLOWS, FOLLOWER_COUNTS}
        return sum(len(orjson.dumps(v.body)) for v in changed.values())

    assert abs(written(10_000) - written(10)) <= 4
