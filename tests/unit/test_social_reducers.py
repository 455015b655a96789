"""The DriveTribe reducers: tribes, grouped notifications, trending windows, blocks, and the cards' tribe and rank.

Events are generated over a small universe (four users, three articles, two tribes,
a few comment ids), with times spread over three hours so that they fall into many
trending buckets. Each is appended to its partition by the routing table and folded
at version = its offset in that partition + 1, as every runtime does.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
    FollowApproved,
    FollowDenied,
    NotificationsRead,
    TribeCreated,
    TribeJoined,
    TribeLeft,
    UserBlocked,
    UserFollowed,
    UserUnblocked,
    UserUnfollowed,
)
from events.routing import ARTICLES as ARTICLES_TOPIC
from events.routing import partitions, source_of
from reducers.articles import ARTICLES, VIEW_RECEIPTS, ArticlesReducer, view_receipt_id
from reducers.base import Reducer, State, Versioned, fold
from reducers.follows import BLOCKS, FOLLOWS, RECENT, RECENT_FOLLOWS, FollowsReducer
from reducers.notifications import ACTORS, LATEST_ACTORS, NOTIFICATIONS, READ_MARKS, NotificationsReducer
from reducers.ranking import rank
from reducers.trending import ARTICLE_TAGS, BUCKETS, WINDOWS, TrendingReducer, bucket_id, bucket_start
from reducers.trending import BUMPS as TREND_BUMPS
from reducers.tribes import MEMBERSHIPS, TRIBES, TribesReducer
from tests.unit.event_strategies import (
    created_first,
    folded_in_batches,
    folded_partition_by_partition,
    replay,
    versioned,
)

PROPERTY = settings(max_examples=40, deadline=None)

# -- the universe -------------------------------------------------------------------------------

USERS = ("u1", "u2", "u3", "u4")
ARTICLE_IDS = ("a1", "a2", "a3")
TRIBE_IDS = ("t1", "t2")
COMMENT_IDS = {"a1": (11, 12, 13), "a2": (21, 22), "a3": (31,)}
TAGS = ("go", "py", "rs")
WORDS = ("one", "two", "three")
T0 = 1_700_000_000_000
SPAN = 3 * 3_600_000  # three hours: 36 five-minute buckets, 3-4 hourly ones

_user = st.sampled_from(USERS)
_article = st.sampled_from(ARTICLE_IDS)
_tribe = st.sampled_from(TRIBE_IDS)
_word = st.sampled_from(WORDS)
_maybe_word = st.none() | _word
_at = st.integers(T0, T0 + SPAN)


def _ev(cls: type[Event], **fields: st.SearchStrategy) -> st.SearchStrategy[Event]:
    return st.builds(cls, event_id=st.just(""), actor_id=_user, occurred_at=_at, **fields)


def _on_comment(cls: type[Event], **fields: st.SearchStrategy) -> st.SearchStrategy[Event]:
    return _article.flatmap(
        lambda a: _ev(cls, article_id=st.just(a), comment_id=st.sampled_from(COMMENT_IDS[a]), **fields)
    )


STEPS: dict[str, st.SearchStrategy[Event]] = {
    "TribeCreated": _ev(
        TribeCreated, tribe_id=_tribe, name=st.sampled_from(("Cars", "Old cars", "Bikes")), description=_word
    ),
    "TribeJoined": _ev(TribeJoined, tribe_id=_tribe),
    "TribeLeft": _ev(TribeLeft, tribe_id=_tribe),
    "ArticlePublished": _ev(
        ArticlePublished,
        article_id=_article,
        slug=_word,
        title=_word,
        description=_word,
        body=_word,
        tags=st.lists(st.sampled_from(TAGS), max_size=3).map(tuple),
        tribe_id=st.none() | _tribe,
    ),
    "ArticleEdited": _ev(
        ArticleEdited,
        article_id=_article,
        slug=_maybe_word,
        title=_maybe_word,
        description=_maybe_word,
        body=_maybe_word,
    ),
    "ArticleDeleted": _ev(ArticleDeleted, article_id=_article),
    "ArticleBumped": _ev(ArticleBumped, article_id=_article),
    "ArticleUnbumped": _ev(ArticleUnbumped, article_id=_article),
    "ArticleViewed": _ev(ArticleViewed, article_id=_article, referrer=_maybe_word),
    # The API mentions each user once, in order of first mention.
    "CommentPosted": _on_comment(
        CommentPosted, body=_word, mentions=st.lists(_user, max_size=3, unique=True).map(tuple)
    ),
    "CommentDeleted": _on_comment(CommentDeleted),
    "UserFollowed": _ev(UserFollowed, followee_id=_user),
    "UserUnfollowed": _ev(UserUnfollowed, followee_id=_user),
    "UserBlocked": _ev(UserBlocked, blocked_id=_user),
    "UserUnblocked": _ev(UserUnblocked, blocked_id=_user),
    "FollowApproved": _ev(FollowApproved, follower_id=_user),
    "FollowDenied": _ev(FollowDenied, follower_id=_user),
    "NotificationsRead": _ev(NotificationsRead, up_to=_at),
}

TRIBE_EVENTS = ("TribeCreated", "TribeJoined", "TribeLeft")
ARTICLE_EVENTS = (
    "ArticlePublished", "ArticleEdited", "ArticleDeleted", "ArticleBumped", "ArticleUnbumped", "ArticleViewed",
    "CommentPosted", "CommentDeleted",
)
NOTIFICATION_EVENTS = (*ARTICLE_EVENTS, "UserFollowed", "UserUnfollowed", "NotificationsRead")
FOLLOW_EVENTS = ("UserFollowed", "UserUnfollowed", "UserBlocked", "UserUnblocked", "FollowApproved", "FollowDenied")


def _ids(events: list[Event]) -> list[Event]:
    return [dataclasses.replace(e, event_id=f"e{i:04d}") for i, e in enumerate(events)]


def logs(*names: str, max_size: int = 40) -> st.SearchStrategy[list[Event]]:
    """Sequences of these event types; a few creations first so later events usually find their document."""
    head = [STEPS[n] for n in ("ArticlePublished", "TribeCreated") if n in names]
    first = st.lists(st.one_of(head), max_size=4) if head else st.just([])
    body = st.lists(st.one_of([STEPS[n] for n in names]), max_size=max_size)
    return st.tuples(first, body).map(lambda parts: _ids(parts[0] + parts[1]))


REDUCERS: dict[str, tuple[Reducer, tuple[str, ...]]] = {
    "tribes": (TribesReducer(), TRIBE_EVENTS),
    "notifications": (NotificationsReducer(), NOTIFICATION_EVENTS),
    "trending": (TrendingReducer(), ARTICLE_EVENTS),
    "follows+blocks": (FollowsReducer(), FOLLOW_EVENTS),
    "articles (cards)": (ArticlesReducer(), ARTICLE_EVENTS),
}


def docs_of(state: State, collection: str) -> dict[str, dict]:
    return {doc_id: v.body for (c, doc_id), v in state.items() if c == collection}


# -- (a) replay equals incremental ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_folding_in_batches_equals_folding_at_once(name: str, data: st.DataObject) -> None:
    reducer, types = REDUCERS[name]
    events = data.draw(logs(*types), label="events")
    at_once, in_batches = folded_in_batches(reducer, events, data)
    assert in_batches == at_once


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_reading_partition_by_partition_equals_log_order(name: str, data: st.DataObject) -> None:
    """The runtimes read one partition at a time, in batches; the order across partitions must not matter."""
    reducer, types = REDUCERS[name]
    at_once, by_partition = folded_partition_by_partition(reducer, data.draw(logs(*types), label="events"), data)
    assert by_partition == at_once


# -- (b) redelivery and suffix replay change nothing -------------------------------------------------


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_redelivery_and_suffix_replay_change_nothing(name: str, data: st.DataObject) -> None:
    reducer, types = REDUCERS[name]
    pairs = versioned(created_first(data.draw(logs(*types), label="events")))
    final = replay(reducer, pairs)
    for pair in pairs:
        assert fold(reducer, final, [pair]) == {}, pair
    for start in range(len(pairs)):
        assert fold(reducer, final, pairs[start:]) == {}
    # A consumer that crashed after applying pairs[:k] and rereads from j <= k.
    k = data.draw(st.integers(0, len(pairs)), label="applied")
    j = data.draw(st.integers(0, k), label="reread from")
    state = replay(reducer, pairs[:k])
    assert fold(reducer, state, pairs[j:k]) == {}
    assert replay(reducer, pairs[j:], state) == final


@pytest.mark.parametrize("name", sorted(REDUCERS))
@PROPERTY
@given(data=st.data())
def test_redelivery_never_changes_a_document_that_exists(name: str, data: st.DataObject) -> None:
    """On any log, shaped by the API or not, the version guard keeps every existing document as it is."""
    reducer, types = REDUCERS[name]
    pairs = versioned(data.draw(logs(*types), label="events"))
    final = replay(reducer, pairs)
    for pair in pairs:
        assert not set(fold(reducer, final, [pair])) & set(final), pair


# -- (c) tribe membership --------------------------------------------------------------------------


def _model_members(events: list[Event]) -> dict[str, set[str]]:
    """Members per tribe, from the rule.

    The first creation makes the creator a member; later joins and leaves toggle.
    """
    members: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e, TribeCreated):
            members.setdefault(e.tribe_id, {e.actor_id})
        elif isinstance(e, TribeJoined) and e.tribe_id in members:
            members[e.tribe_id].add(e.actor_id)
        elif isinstance(e, TribeLeft) and e.tribe_id in members:
            members[e.tribe_id].discard(e.actor_id)
    return members


@settings(max_examples=80, deadline=None)
@given(logs(*TRIBE_EVENTS, max_size=40).map(created_first))
def test_member_count_is_the_number_of_users_whose_last_tribe_event_is_a_join(events: list[Event]) -> None:
    state = replay(TribesReducer(), versioned(events))
    expected = _model_members(events)
    tribes = docs_of(state, TRIBES)
    assert set(tribes) == set(expected)
    creators = {}
    for e in events:
        if isinstance(e, TribeCreated):
            creators.setdefault(e.tribe_id, e)
    for tribe_id, members in expected.items():
        doc = tribes[tribe_id]
        assert doc["member_count"] == len(members)
        assert doc["owner_id"] == creators[tribe_id].actor_id
        assert doc["name"] == creators[tribe_id].name and doc["name_key"] == creators[tribe_id].name.lower()
    # Membership documents agree with the member sets, and exist only for users who acted on a tribe that existed.
    for doc in docs_of(state, MEMBERSHIPS).values():
        assert doc["active"] == (doc["user_id"] in expected[doc["tribe_id"]])
    for tribe_id, members in expected.items():
        for user in members:
            assert docs_of(state, MEMBERSHIPS)[f"{user}:{tribe_id}"]["active"] is True


_tribe_plans = st.dictionaries(_user, st.lists(st.booleans(), min_size=1, max_size=5), max_size=4)


@settings(max_examples=80, deadline=None)
@given(plans=_tribe_plans, creator=_user, data=st.data())
def test_any_interleaving_of_joins_and_leaves_gives_the_same_members(
    plans: dict[str, list[bool]], creator: str, data: st.DataObject
) -> None:
    tokens = [user for user, actions in plans.items() for _ in actions]
    expected = {creator} - set(plans) | {user for user, actions in plans.items() if actions[-1]}
    for label in ("one interleaving", "another"):
        order = data.draw(st.permutations(tokens), label=label)
        queues = {user: list(actions) for user, actions in plans.items()}
        events: list[Event] = [
            TribeCreated(event_id="c", actor_id=creator, occurred_at=T0, tribe_id="t1", name="Cars", description="")
        ]
        for user in order:
            cls = TribeJoined if queues[user].pop(0) else TribeLeft
            events.append(cls(event_id=f"e{len(events)}", actor_id=user, occurred_at=T0 + len(events), tribe_id="t1"))
        state = replay(TribesReducer(), versioned(events))
        memberships = docs_of(state, MEMBERSHIPS).values()
        assert {m["user_id"] for m in memberships if m["active"]} == expected
        assert state[(TRIBES, "t1")].body["member_count"] == len(expected)


# -- (d) bump notification groups ------------------------------------------------------------------

_bump_plans = st.dictionaries(_user, st.lists(st.booleans(), min_size=1, max_size=6), max_size=4)


def _publish(article_id: str = "a1", author: str = "u1", at: int = T0, **fields: object) -> ArticlePublished:
    published = ArticlePublished(
        event_id=f"p-{article_id}",
        actor_id=author,
        occurred_at=at,
        article_id=article_id,
        slug="s",
        title="Dragons",
        description="d",
        body="b",
        tags=(),
    )
    return dataclasses.replace(published, **fields)


@settings(max_examples=100, deadline=None)
@given(plans=_bump_plans, author=_user, data=st.data())
def test_a_bump_group_counts_distinct_non_authors_whose_last_action_is_a_bump(
    plans: dict[str, list[bool]], author: str, data: st.DataObject
) -> None:
    tokens = [user for user, actions in plans.items() for _ in actions]
    expected = sorted(user for user, actions in plans.items() if actions[-1] and user != author)
    acted = any(user != author and any(actions) for user, actions in plans.items())
    for label in ("one interleaving", "another"):
        order = data.draw(st.permutations(tokens), label=label)
        queues = {user: list(actions) for user, actions in plans.items()}
        events: list[Event] = [_publish(author=author)]
        for user in order:
            cls = ArticleBumped if queues[user].pop(0) else ArticleUnbumped
            events.append(cls(event_id=f"e{len(events)}", actor_id=user, occurred_at=T0 + len(events), article_id="a1"))
        state = replay(NotificationsReducer(), versioned(events))
        group = state.get((NOTIFICATIONS, "bump:a1"))
        if not acted:
            assert group is None  # only the author bumped, or nobody did: there is nobody to notify of
            continue
        assert group is not None
        actors = docs_of(state, ACTORS)
        assert sorted(a["actor_id"] for a in actors.values() if a["active"]) == expected
        assert group.body["count"] == len(expected)
        assert set(group.body["latest_actors"]) <= set(expected)
        assert len(group.body["latest_actors"]) == min(len(expected), LATEST_ACTORS)  # four users: nobody drops out
        assert group.body["active"] == bool(expected)
        assert group.body["recipient_id"] == author
        assert (group.body["kind"], group.body["article_id"]) == ("bump", "a1")


@PROPERTY
@given(logs(*NOTIFICATION_EVENTS, max_size=40))
def test_nobody_is_notified_of_their_own_actions_and_counts_are_the_active_actors(events: list[Event]) -> None:
    state = replay(NotificationsReducer(), versioned(events))
    actors = docs_of(state, ACTORS).values()
    for group_id, group in docs_of(state, NOTIFICATIONS).items():
        latest = group["latest_actors"]
        assert len(latest) == len(set(latest)) <= min(group["count"], LATEST_ACTORS)
        if group["kind"] in ("bump", "comment"):  # inactive while counting actors: its article was deleted
            active = {a["actor_id"] for a in actors if a["group_id"] == group_id and a["active"]}
            assert group["count"] == len(active) and set(latest) <= active
        else:
            assert group["count"] in (0, 1) and group["active"] == (group["count"] == 1)
        if group["kind"] in ("bump", "comment", "mention"):
            assert group["recipient_id"] not in latest


# -- (e) trending windows --------------------------------------------------------------------------


Scored = ArticleBumped | ArticleUnbumped | CommentPosted


def _trend_events(events: list[Event]) -> list[tuple[Scored, int]]:
    """The bump, unbump and comment events, with what each adds to its article's score.

    A comment adds 1; a bump adds 1 only if its user was not bumping the article, an unbump -1 only if
    they were. The buckets score every article, live or not: a trending read leaves out the deleted.
    """
    bumpers: dict[str, set[str]] = {}
    counted: list[tuple[Scored, int]] = []
    for e in events:
        if isinstance(e, (ArticleBumped, ArticleUnbumped, CommentPosted)):
            users = bumpers.setdefault(e.article_id, set())
            delta = 1
            if isinstance(e, ArticleBumped):
                delta = 0 if e.actor_id in users else 1
                users.add(e.actor_id)
            elif isinstance(e, ArticleUnbumped):
                delta = -1 if e.actor_id in users else 0
                users.discard(e.actor_id)
            counted.append((e, delta))
    return counted


def _window_sum(state: State, window: str, starts: range, article_id: str) -> int:
    buckets = docs_of(state, BUCKETS)
    return sum(
        buckets.get(bucket_id(window, start, p), {}).get("articles", {}).get(article_id, 0)
        for start in starts
        for p in range(partitions(ARTICLES_TOPIC))
    )


@settings(max_examples=100, deadline=None)
@given(events=logs(*ARTICLE_EVENTS, max_size=60), data=st.data())
def test_a_windows_score_is_bumps_minus_unbumps_plus_comments_in_its_buckets(
    events: list[Event], data: st.DataObject
) -> None:
    state = replay(TrendingReducer(), versioned(events))
    counted = _trend_events(events)
    for window, size in WINDOWS.items():
        first = bucket_start(window, T0)
        last = bucket_start(window, T0 + SPAN)
        lo = data.draw(st.integers(first, last), label=f"{window} from") // size * size
        hi = data.draw(st.integers(lo, last), label=f"{window} to") // size * size
        starts = range(lo, hi + 1, size)
        inside = [(e, delta) for e, delta in counted if lo <= e.occurred_at < hi + size]
        for article_id in ARTICLE_IDS:
            expected = sum(delta for e, delta in inside if e.article_id == article_id)
            assert _window_sum(state, window, starts, article_id) == expected, (window, article_id)
    # Every bucket is fed by the partition it names, and every event that scores lands in its two buckets.
    for doc_id, bucket in docs_of(state, BUCKETS).items():
        assert doc_id == bucket_id(bucket["window"], bucket["start"], bucket["partition"])
    scoring = [e for e, delta in counted if delta]
    landed = [bucket_id(w, bucket_start(w, e.occurred_at), source_of(e)[1]) for e in scoring for w in WINDOWS]
    assert all((BUCKETS, bucket) in state for bucket in landed)


# -- blocks ----------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(logs(*FOLLOW_EVENTS, max_size=40))
def test_the_last_block_or_unblock_of_a_pair_wins_and_blocks_leave_follows_alone(events: list[Event]) -> None:
    state = replay(FollowsReducer(), versioned(events))
    blocks: dict[str, bool] = {}
    follows: dict[str, bool] = {}
    for e in events:
        if isinstance(e, (UserBlocked, UserUnblocked)):
            blocks[f"{e.actor_id}:{e.blocked_id}"] = isinstance(e, UserBlocked)
        elif isinstance(e, (UserFollowed, UserUnfollowed)):
            follows[f"{e.actor_id}:{e.followee_id}"] = isinstance(e, UserFollowed)
        elif isinstance(e, (FollowApproved, FollowDenied)):
            # A denial ends an active follow; approvals keep it; an answer to no follow records an inactive one.
            key = f"{e.follower_id}:{e.actor_id}"
            follows[key] = isinstance(e, FollowApproved) and follows.get(key, False)
    assert {k: v["active"] for k, v in docs_of(state, BLOCKS).items()} == blocks
    assert {k: v["active"] for k, v in docs_of(state, FOLLOWS).items()} == follows
    for doc_id, doc in docs_of(state, BLOCKS).items():
        assert doc_id == f"{doc['blocker_id']}:{doc['blocked_id']}"


# -- (f) rank, and the cards' tribe and rank ---------------------------------------------------------

_count = st.integers(0, 10**9)
_created = st.integers(0, 4_000_000_000_000)


@settings(max_examples=300, deadline=None)
@given(
    created=_created,
    bumps=_count,
    comments=_count,
    views=_count,
    more=st.integers(1, 10**6),
    later=st.integers(1, 10**10),
)
def test_rank_never_falls_as_engagement_or_recency_grows(
    created: int, bumps: int, comments: int, views: int, more: int, later: int
) -> None:
    base = rank(created, bumps, comments, views)
    assert isinstance(base, int)
    assert rank(created, bumps + more, comments, views) >= base
    assert rank(created, bumps, comments + more, views) >= base
    assert rank(created, bumps, comments, views + more) >= base
    assert rank(created + later, bumps, comments, views) >= base


@settings(max_examples=300, deadline=None)
@given(created=_created, bumps=st.integers(0, 1000), comments=st.integers(0, 1000), views=st.integers(0, 10_000))
def test_rank_rises_with_each_bump_and_comment_and_ten_views_at_everyday_counts(
    created: int, bumps: int, comments: int, views: int
) -> None:
    base = rank(created, bumps, comments, views)
    assert rank(created, bumps + 1, comments, views) > base
    assert rank(created, bumps, comments + 1, views) > rank(created, bumps + 1, comments, views)
    assert rank(created, bumps, comments, views + 10) > base
    assert rank(created + 1000, bumps, comments, views) > base  # a second newer


def test_ten_times_the_engagement_is_worth_twelve_and_a_half_hours() -> None:
    assert rank(T0, 9, 0, 0) == rank(T0 + 45_000_000, 0, 0, 0)
    assert rank(T0, 0, 0, 0) == round((T0 / 1000 - 1_700_000_000) / 45_000 * 1_000_000)


@settings(max_examples=80, deadline=None)
@given(logs(*ARTICLE_EVENTS, max_size=50))
def test_every_card_keeps_its_tribe_and_ranks_by_its_own_counts(events: list[Event]) -> None:
    state = replay(ArticlesReducer(), versioned(events))
    published: dict[str, ArticlePublished] = {}
    for e in events:
        if isinstance(e, ArticlePublished):
            published.setdefault(e.article_id, e)
    cards = docs_of(state, ARTICLES)
    assert set(cards) == set(published)
    for article_id, card in cards.items():
        assert card["tribe_id"] == published[article_id].tribe_id
        assert card["created_at"] == published[article_id].occurred_at
        assert card["rank"] == rank(card["created_at"], card["favorites_count"], card["comments_count"], card["views"])


# -- examples, one or more per handler --------------------------------------------------------------


def _apply(reducer: Reducer, *events: Event) -> State:
    """Fold at version = place in the list + 1 (the examples sit in one partition each)."""
    return replay(reducer, [(i + 1, e) for i, e in enumerate(events)])


def _has(doc: Versioned, version: int, fields: dict[str, Any]) -> bool:
    """The document is at `version` and holds these fields with these values (other fields may exist)."""
    return doc.version == version and {k: doc.body.get(k, "<missing>") for k in fields} == fields


_EVENT_NUMBERS = itertools.count(1)


def _event(cls: type[Event], actor: str, at: int = T0, **fields: Any) -> Event:
    """An event of `cls` with the next example id; `fields` are the payload fields of that type."""
    return cls(event_id=f"x{next(_EVENT_NUMBERS)}", actor_id=actor, occurred_at=at, **fields)

# tribes


def test_creating_a_tribe_makes_the_creator_its_only_member() -> None:
    state = _apply(TribesReducer(), _event(TribeCreated, "u1", tribe_id="t1", name="Old Cars", description="vintage"))
    tribe = state[(TRIBES, "t1")]
    expected = {
        "tribe_id": "t1",
        "name": "Old Cars",
        "name_key": "old cars",
        "description": "vintage",
        "owner_id": "u1",
        "created_at": T0,
        "member_count": 1,
    }
    assert tribe.version == 1
    assert {k: tribe.body.get(k, "<missing>") for k in expected} == expected
    membership = {"user_id": "u1", "tribe_id": "t1", "active": True, "updated_at": T0}
    assert _has(state[(MEMBERSHIPS, "u1:t1")], 1, membership)
    assert [entry[0] for entry in state[(MEMBERSHIPS, "u1:t1")].body["recent"]] == ["0"]


def test_a_second_creation_of_a_tribe_is_ignored() -> None:
    create = _event(TribeCreated, "u1", tribe_id="t1", name="Cars", description="")
    state = _apply(TribesReducer(), create, _event(TribeCreated, "u2", tribe_id="t1", name="Bikes", description=""))
    assert state[(TRIBES, "t1")].body["owner_id"] == "u1"
    assert state[(TRIBES, "t1")].body["name"] == "Cars"
    assert (MEMBERSHIPS, "u2:t1") not in state


def test_joining_twice_counts_once_and_leaving_counts_down() -> None:
    create = _event(TribeCreated, "u1", tribe_id="t1", name="Cars", description="")
    join = _event(TribeJoined, "u2", at=T0 + 5, tribe_id="t1")
    state = _apply(TribesReducer(), create, join, _event(TribeJoined, "u2", at=T0 + 6, tribe_id="t1"))
    assert (state[(TRIBES, "t1")].body["member_count"], state[(TRIBES, "t1")].version) == (2, 2)
    state = _apply(TribesReducer(), create, join, _event(TribeLeft, "u1", at=T0 + 9, tribe_id="t1"))
    assert state[(TRIBES, "t1")].body["member_count"] == 1
    membership = {"user_id": "u1", "tribe_id": "t1", "active": False, "updated_at": T0 + 9}
    assert _has(state[(MEMBERSHIPS, "u1:t1")], 3, membership)


def test_joining_or_leaving_an_unknown_tribe_is_the_users_and_counted_nowhere() -> None:
    assert set(_apply(TribesReducer(), _event(TribeJoined, "u2", tribe_id="t9"))) == {(MEMBERSHIPS, "u2:t9")}
    left = _apply(TribesReducer(), _event(TribeLeft, "u2", tribe_id="t9"))
    assert [doc.body["active"] for doc in left.values()] == [False]


def test_tribes_reducer_ignores_other_events() -> None:
    assert TribesReducer().keys(_publish()) == ()


# notifications


def _notifications(*events: Event) -> State:
    return _apply(NotificationsReducer(), _publish(author="u1"), *events)


def test_a_mention_notifies_each_mentioned_user_but_the_commenter() -> None:
    body, mentions = "hi @u3 @u2 @u4", ("u3", "u2", "u4")
    comment = _event(CommentPosted, "u2", at=T0 + 7, article_id="a1", comment_id=11, body=body, mentions=mentions)
    state = _notifications(comment)
    mentions = {k: v for k, v in docs_of(state, NOTIFICATIONS).items() if v["kind"] == "mention"}
    assert set(mentions) == {"mention:a1:11:u3", "mention:a1:11:u4"}
    for user in ("u3", "u4"):
        assert mentions[f"mention:a1:11:{user}"] == {
            "recipient_id": user,
            "kind": "mention",
            "article_id": "a1",
            "comment_id": 11,
            "count": 1,
            "latest_actor_id": "u2",
            "latest_actors": ["u2"],
            "latest_at": T0 + 7,
            "active": True,
        }
    # The author is told of the comment itself, once.
    assert state[(NOTIFICATIONS, "comment:a1")].body["recipient_id"] == "u1"
    assert state[(NOTIFICATIONS, "comment:a1")].body["latest_actors"] == ["u2"]


def test_the_author_commenting_on_their_own_article_notifies_only_those_they_mention() -> None:
    comment = _event(CommentPosted, "u1", article_id="a1", comment_id=11, body="@u1 @u2", mentions=("u1", "u2"))
    state = _notifications(comment)
    assert set(docs_of(state, NOTIFICATIONS)) == {"mention:a1:11:u2"}


def test_comments_and_mentions_on_an_unknown_article_notify_nobody() -> None:
    comment = _event(CommentPosted, "u2", article_id="a1", comment_id=11, body="@u3", mentions=("u3",))
    assert _apply(NotificationsReducer(), comment) == {}


def test_follow_and_unfollow_notify_the_followee() -> None:
    follow = _event(UserFollowed, "u2", at=T0 + 1, followee_id="u1")
    unfollow = _event(UserUnfollowed, "u2", at=T0 + 2, followee_id="u1")
    state = _apply(NotificationsReducer(), follow)
    assert state[(NOTIFICATIONS, "follow:u1:u2")] == Versioned(
        {
            "recipient_id": "u1",
            "kind": "follow",
            "article_id": None,
            "comment_id": None,
            "count": 1,
            "latest_actor_id": "u2",
            "latest_actors": ["u2"],
            "latest_at": T0 + 1,
            "active": True,
        },
        1,
    )
    group = _apply(NotificationsReducer(), follow, unfollow)[(NOTIFICATIONS, "follow:u1:u2")]
    assert (group.body["latest_actors"], group.body["count"], group.body["active"], group.version) == ([], 0, False, 2)
    again = _apply(NotificationsReducer(), follow, unfollow, _event(UserFollowed, "u2", at=T0 + 3, followee_id="u1"))
    assert again[(NOTIFICATIONS, "follow:u1:u2")].body["active"] is True
    assert again[(NOTIFICATIONS, "follow:u1:u2")].body["latest_at"] == T0 + 3


def test_notifications_read_only_moves_forward() -> None:
    def read(up_to: int) -> Event:
        return _event(NotificationsRead, "u1", up_to=up_to)

    state = _apply(NotificationsReducer(), read(100), read(50))
    assert state[(READ_MARKS, "u1")] == Versioned({"user_id": "u1", "read_up_to": 100}, 1)
    state = _apply(NotificationsReducer(), read(100), read(50), read(200))
    assert state[(READ_MARKS, "u1")] == Versioned({"user_id": "u1", "read_up_to": 200}, 3)
    assert fold(NotificationsReducer(), state, [(4, read(150))]) == {}


def test_deleting_an_article_deactivates_its_bump_and_comment_groups() -> None:
    bump = _event(ArticleBumped, "u2", article_id="a1")
    comment = _event(CommentPosted, "u3", article_id="a1", comment_id=11, body="b")
    delete = _event(ArticleDeleted, "u1", article_id="a1")
    state = _notifications(bump, comment, delete)
    assert state[(NOTIFICATIONS, "bump:a1")].body["active"] is False
    assert state[(NOTIFICATIONS, "comment:a1")].body["active"] is False
    assert state[(NOTIFICATIONS, "bump:a1")].body["count"] == 1


def test_only_the_author_can_delete_an_articles_notifications() -> None:
    bump = _event(ArticleBumped, "u2", article_id="a1")
    state = _notifications(bump, _event(ArticleDeleted, "u2", article_id="a1"))
    assert state[(NOTIFICATIONS, "bump:a1")].body["active"] is True


def test_bumps_group_with_the_latest_actors_and_time() -> None:
    state = _notifications(
        _event(ArticleBumped, "u2", at=T0 + 10, article_id="a1"),
        _event(ArticleEdited, "u1", at=T0 + 11, article_id="a1", title="Wyverns"),
        _event(ArticleBumped, "u3", at=T0 + 12, article_id="a1"),
        _event(ArticleBumped, "u1", at=T0 + 13, article_id="a1"),  # the author: ignored
        _event(ArticleBumped, "u2", at=T0 + 14, article_id="a1"),  # a repeat: nothing new
    )
    group = state[(NOTIFICATIONS, "bump:a1")]
    latest = (group.body["latest_actors"], group.body["count"], group.body["latest_actor_id"], group.body["latest_at"])
    assert (latest, group.version) == ((["u3", "u2"], 2, "u3", T0 + 12), 4)
    unbumped = _notifications(
        _event(ArticleBumped, "u2", at=T0 + 10, article_id="a1"),
        _event(ArticleBumped, "u3", at=T0 + 12, article_id="a1"),
        _event(ArticleUnbumped, "u3", at=T0 + 15, article_id="a1"),
    )[(NOTIFICATIONS, "bump:a1")].body
    assert (unbumped["latest_actors"], unbumped["count"], unbumped["latest_actor_id"]) == (["u2"], 1, "u2")


# trending


def test_a_bump_scores_the_article_in_both_buckets_of_its_partition_and_its_tags_stay_beside() -> None:
    at = T0 + 7 * 60_000
    publish = _publish(tags=("py", "go"))
    state = _apply(TrendingReducer(), publish, _event(ArticleBumped, "u2", at=at, article_id="a1"))
    _, partition = source_of(publish)
    five = state[(BUCKETS, bucket_id("5m", bucket_start("5m", at), partition))].body
    hour = state[(BUCKETS, bucket_id("1h", bucket_start("1h", at), partition))].body
    assert five == {
        "window": "5m",
        "start": bucket_start("5m", at),
        "partition": partition,
        "articles": {"a1": 1},
    }
    assert (hour["window"], hour["articles"]) == ("1h", {"a1": 1})
    article = {
        "article_id": "a1",
        "author_id": "u1",
        "tags": ["go", "py"],
        "deleted": False,
        "hidden": False,
        "moderated_at": None,
    }
    assert state[(ARTICLE_TAGS, "a1")].body == article
    assert state[(TREND_BUMPS, "a1:u2")].body["active"] is True


def test_unbumps_subtract_comments_add_and_a_deletion_is_kept_beside_the_buckets() -> None:
    _, partition = source_of(_publish())
    events = [
        _publish(tags=("py",)),
        _event(ArticleBumped, "u2", article_id="a1"),
        _event(ArticleBumped, "u3", article_id="a1"),
        _event(ArticleUnbumped, "u2", article_id="a1"),
        _event(CommentPosted, "u4", article_id="a1", comment_id=11, body="b"),
        _event(ArticleDeleted, "u1", article_id="a1"),
        _event(ArticleBumped, "u4", article_id="a1"),
    ]
    bucket = _apply(TrendingReducer(), *events)[(BUCKETS, bucket_id("5m", bucket_start("5m", T0), partition))]
    # The bump after the deletion scores too: the buckets read no other document, and a trending read
    # leaves out the deleted article (services/activity.py).
    assert (bucket.body["articles"], bucket.version) == ({"a1": 3}, 7)
    state = _apply(TrendingReducer(), *events)
    assert state[(ARTICLE_TAGS, "a1")].body["deleted"] is True


def test_trending_ignores_deletions_by_others() -> None:
    state = _apply(TrendingReducer(), _publish(), _event(ArticleDeleted, "u2", article_id="a1"))
    assert state[(ARTICLE_TAGS, "a1")].body["deleted"] is False


# blocks


def test_a_users_recent_follows_are_their_latest_follows_newest_first_without_the_unfollowed() -> None:
    follows = [_event(UserFollowed, "u1", at=T0 + n, followee_id=f"u{n}") for n in range(2, 2 + RECENT + 3)]
    again = _event(UserFollowed, "u1", at=T0 + 100, followee_id="u5")
    unfollow = _event(UserUnfollowed, "u1", at=T0 + 101, followee_id=f"u{RECENT + 4}")
    recent = _apply(FollowsReducer(), *follows, again, unfollow)[(RECENT_FOLLOWS, "u1")].body
    expected = ["u5", *(f"u{n}" for n in range(RECENT + 3, 5, -1))][:RECENT]
    assert recent["followees"] == expected
    assert recent["followed_at"][:2] == [T0 + 100, T0 + RECENT + 3]
    assert len(recent["followed_at"]) == len(recent["followees"])


def test_block_then_unblock_keeps_one_inactive_pair_and_leaves_the_follow() -> None:
    follow = _event(UserFollowed, "u1", followee_id="u2")
    block = _event(UserBlocked, "u1", at=T0 + 5, blocked_id="u2")
    unblock = _event(UserUnblocked, "u1", at=T0 + 6, blocked_id="u2")
    state = _apply(FollowsReducer(), follow, block)
    pair = {"blocker_id": "u1", "blocked_id": "u2"}
    assert state[(BLOCKS, "u1:u2")] == Versioned({**pair, "active": True, "updated_at": T0 + 5}, 2)
    assert state[(FOLLOWS, "u1:u2")].body["active"] is True
    state = _apply(FollowsReducer(), follow, block, unblock)
    assert state[(BLOCKS, "u1:u2")] == Versioned({**pair, "active": False, "updated_at": T0 + 6}, 3)
    assert (BLOCKS, "u2:u1") not in state


# cards


def test_a_card_carries_its_tribe_and_a_rank_that_follows_its_counts() -> None:
    publish = _publish(tribe_id="t1", at=T0)
    state = _apply(ArticlesReducer(), publish)
    card = state[(ARTICLES, "a1")].body
    assert (card["tribe_id"], card["rank"]) == ("t1", rank(T0, 0, 0, 0))
    steps: list[tuple[Event, Callable[[int], bool]]] = [
        (_event(ArticleViewed, "u2", article_id="a1"), lambda r: r == rank(T0, 0, 0, 1)),
        (_event(ArticleBumped, "u2", article_id="a1"), lambda r: r == rank(T0, 1, 0, 1)),
        (_event(CommentPosted, "u3", article_id="a1", comment_id=11, body="b"), lambda r: r == rank(T0, 1, 1, 1)),
        (_event(CommentDeleted, "u3", article_id="a1", comment_id=11), lambda r: r == rank(T0, 1, 0, 1)),
        (_event(ArticleUnbumped, "u2", article_id="a1"), lambda r: r == rank(T0, 0, 0, 1)),
        (_event(ArticleEdited, "u1", article_id="a1", title="New"), lambda r: r == rank(T0, 0, 0, 1)),
    ]
    events: list[Event] = [publish]
    for event, ok in steps:
        events.append(event)
        card = _apply(ArticlesReducer(), *events)[(ARTICLES, "a1")].body
        assert ok(card["rank"]), event
        assert card["tribe_id"] == "t1"
    assert _apply(ArticlesReducer(), _publish())[(ARTICLES, "a1")].body["tribe_id"] is None


def test_repeated_bumps_by_one_user_score_once_and_a_stray_unbump_nothing() -> None:
    _, partition = source_of(_publish())
    events = [
        _publish(tags=("py",)),
        _event(ArticleUnbumped, "u3", article_id="a1"),
        _event(ArticleBumped, "u2", article_id="a1"),
        _event(ArticleBumped, "u2", article_id="a1"),
        _event(ArticleBumped, "u2", article_id="a1"),
    ]
    state = _apply(TrendingReducer(), *events)
    bucket = state[(BUCKETS, bucket_id("5m", bucket_start("5m", T0), partition))].body
    assert bucket["articles"] == {"a1": 1}
    assert {k[1]: d.body["active"] for k, d in state.items() if k[0] == TREND_BUMPS} == {"a1:u2": True, "a1:u3": False}


def test_a_view_retried_with_its_event_id_counts_once_even_at_another_offset() -> None:
    """A retry is appended by another request, at another time: the receipt of the first recognises it."""
    view = ArticleViewed(event_id="client-view-1", actor_id="u2", occurred_at=T0, article_id="a1")
    other = ArticleViewed(event_id="client-view-2", actor_id="u2", occurred_at=T0, article_id="a1")
    retried = [dataclasses.replace(view, occurred_at=T0 + n) for n in (1, 2)]
    state = _apply(ArticlesReducer(), _publish(), view, retried[0], other, retried[1])
    assert state[(ARTICLES, "a1")].body["views"] == 2
    assert {k for k in state if k[0] == VIEW_RECEIPTS} == {
        (VIEW_RECEIPTS, view_receipt_id("a1", "u2", "client-view-1")),
        (VIEW_RECEIPTS, view_receipt_id("a1", "u2", "client-view-2")),
    }


def test_a_view_of_a_missing_or_deleted_article_counts_nowhere() -> None:
    view = ArticleViewed(event_id="v1", actor_id="u2", occurred_at=T0, article_id="a1")
    assert set(_apply(ArticlesReducer(), view)) == {(VIEW_RECEIPTS, view_receipt_id("a1", "u2", "v1"))}
    state = _apply(ArticlesReducer(), _publish(), _event(ArticleDeleted, "u1", article_id="a1"), view)
    assert state[(ARTICLES, "a1")].body["views"] == 0
