"""Private profiles' pure parts: the users and follows reducers, the access rule, and the live stream's decisions.

Reducer properties fold generated logs at versions given by the routing table (one partition per
follower in tribe.follows, one for tribe.users) and compare the documents with a model of the rule.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import (
    ArticlePublished,
    CommentPosted,
    Event,
    FollowApproved,
    FollowDenied,
    ProfilePrivacySet,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
)
from events.routing import FOLLOWS, USERS, source_of
from reducers.base import Versioned, fold
from reducers.follows import FOLLOWS as FOLLOW_DOCS
from reducers.follows import FollowsReducer, follow_id
from reducers.users import USERS as USER_DOCS
from reducers.users import UsersReducer
from services.live import Audience, step
from services.privacy import follow_opens, is_request
from tests.unit.event_strategies import replay, versioned

PROPERTY = settings(max_examples=150, deadline=None)
T0 = 1_700_000_000_000
FOLLOWER, FOLLOWEE = "u1", "u2"


def numbered(events: list[Event]) -> list[Event]:
    return [dataclasses.replace(e, event_id=f"e{i:04d}", occurred_at=T0 + i) for i, e in enumerate(events)]


# -- the users reducer ----------------------------------------------------------------------------

_privacy = st.builds(
    ProfilePrivacySet, event_id=st.just(""), actor_id=st.just(FOLLOWEE), occurred_at=st.just(0), private=st.booleans()
)
_registered = UserRegistered(
    event_id="", actor_id=FOLLOWEE, occurred_at=0, username="ann", email="a@x.io", password_hash="h"
)


@PROPERTY
@given(st.lists(_privacy, max_size=12))
def test_private_is_the_last_setting_and_private_since_when_the_last_private_run_began(
    settings_: list[ProfilePrivacySet],
) -> None:
    events = numbered([_registered, *settings_])
    user = replay(UsersReducer(), versioned(events))[(USER_DOCS, FOLLOWEE)].body
    private, since = False, None
    for e in events[1:]:
        assert isinstance(e, ProfilePrivacySet)
        if e.private and not private:
            since = e.occurred_at
        private = e.private
        since = since if private else None
    assert (user["private"], user["private_since"]) == (private, since)


def test_going_private_writes_only_the_users_own_document_whatever_their_followers() -> None:
    events = numbered([_registered, ProfilePrivacySet(event_id="", actor_id=FOLLOWEE, occurred_at=0, private=True)])
    pairs = versioned(events)
    state = replay(UsersReducer(), pairs[:1])
    assert set(fold(UsersReducer(), state, pairs[1:])) == {(USER_DOCS, FOLLOWEE)}
    assert source_of(events[1])[0] == USERS


def test_a_privacy_setting_of_an_unknown_user_changes_nothing() -> None:
    event = ProfilePrivacySet(event_id="e", actor_id="nobody", occurred_at=T0, private=True)
    assert fold(UsersReducer(), {}, [(1, event)]) == {}


# -- the follows reducer --------------------------------------------------------------------------

_follow_steps = st.sampled_from(("follow", "unfollow", "approve", "deny"))


def _event(kind: str) -> Event:
    envelope = {"event_id": "", "occurred_at": 0}
    if kind == "follow":
        return UserFollowed(**envelope, actor_id=FOLLOWER, followee_id=FOLLOWEE)
    if kind == "unfollow":
        return UserUnfollowed(**envelope, actor_id=FOLLOWER, followee_id=FOLLOWEE)
    answer = FollowApproved if kind == "approve" else FollowDenied
    return answer(**envelope, actor_id=FOLLOWEE, follower_id=FOLLOWER)


@PROPERTY
@given(st.lists(_follow_steps, min_size=1, max_size=16))
def test_a_follow_is_active_approved_and_begun_as_the_rule_says(kinds: list[str]) -> None:
    """Approval applies to an active follow and lasts while it does; a denial ends it; a repeat follow keeps both."""
    events = numbered([_event(k) for k in kinds])
    assert {source_of(e) for e in events} == {(FOLLOWS, source_of(events[0])[1])}, "one partition orders them all"
    doc = replay(FollowsReducer(), versioned(events)).get((FOLLOW_DOCS, follow_id(FOLLOWER, FOLLOWEE)))
    active, approved, since, exists = False, False, 0, False
    for kind, e in zip(kinds, events, strict=True):
        if kind == "follow":
            since = since if active else e.occurred_at
            approved = approved and active
            active = exists = True
        elif kind == "unfollow":
            active, approved, since, exists = False, False, e.occurred_at, True
        else:  # an answer to no follow leaves an inactive follow that records it (reducers/follows.py)
            since = since if exists else e.occurred_at
            exists = True
            approved = active and kind == "approve"
            active = active and kind == "approve"
    if not exists:
        assert doc is None
        return
    assert doc is not None
    assert (doc.body["active"], doc.body["approved"], doc.body["since"]) == (active, approved, since)


def test_an_answer_lands_in_the_partition_of_the_follow_it_answers() -> None:
    follow = UserFollowed(event_id="a", actor_id="reader-42", occurred_at=T0, followee_id="author-7")
    for answer in (FollowApproved, FollowDenied):
        assert source_of(answer(event_id="b", actor_id="author-7", occurred_at=T0, follower_id="reader-42")) == (
            source_of(follow)
        )


def test_a_redelivered_approval_after_a_denial_changes_nothing() -> None:
    pairs = versioned(numbered([_event("follow"), _event("approve"), _event("deny")]))
    state = replay(FollowsReducer(), pairs)
    assert fold(FollowsReducer(), state, pairs[1:2]) == {}
    key = (FOLLOW_DOCS, follow_id(FOLLOWER, FOLLOWEE))
    assert state[key].body["active"] is False and isinstance(state[key], Versioned)


# -- the access rule ------------------------------------------------------------------------------


def _follow(*, active: bool = True, approved: bool = False, since: int = 10) -> dict[str, object]:
    return {
        "follower_id": FOLLOWER,
        "followee_id": FOLLOWEE,
        "active": active,
        "approved": approved,
        "updated_at": since,
        "since": since,
    }


def _author(private_since: int | None) -> dict[str, object]:
    return {"user_id": FOLLOWEE, "private": private_since is not None, "private_since": private_since}


def test_a_follow_opens_a_private_author_when_approved_or_begun_before_they_went_private() -> None:
    private_at_20 = _author(20)
    assert follow_opens(_follow(since=10), private_at_20)
    assert not follow_opens(_follow(since=20), private_at_20), "begun as they went private: a request"
    assert not follow_opens(_follow(since=30), private_at_20)
    assert follow_opens(_follow(since=30, approved=True), private_at_20)
    assert not follow_opens(_follow(since=10, active=False), private_at_20)
    assert not follow_opens(None, private_at_20)
    assert is_request(_follow(since=30), private_at_20)
    assert not is_request(_follow(since=30), _author(None)), "a follow of a public user is no request"


def test_a_follow_document_of_follows_v2_counts_from_its_last_change() -> None:
    old = {"follower_id": FOLLOWER, "followee_id": FOLLOWEE, "active": True, "updated_at": 10}
    assert follow_opens(old, _author(20)) and not follow_opens(old, _author(5))


# -- the live stream ------------------------------------------------------------------------------


def _published(author: str) -> ArticlePublished:
    return ArticlePublished(
        event_id="p",
        actor_id=author,
        occurred_at=T0,
        article_id=f"a-{author}",
        slug="s",
        title="secret",
        description="",
        body="b",
    )


def test_a_private_authors_article_reaches_only_subscribers_their_follow_opens() -> None:
    private = frozenset({FOLLOWEE})
    pending = Audience("me", followees=frozenset({FOLLOWEE}))
    assert step(_published(FOLLOWEE), pending, {}, private)[1] is None
    approved, _ = step(FollowApproved(event_id="x", actor_id=FOLLOWEE, occurred_at=T0, follower_id="me"), pending, {})
    assert step(_published(FOLLOWEE), approved, {}, private)[1] is not None
    denied, _ = step(FollowDenied(event_id="y", actor_id=FOLLOWEE, occurred_at=T0, follower_id="me"), approved, {})
    assert step(_published(FOLLOWEE), denied, {}, private)[1] is None
    assert step(_published(FOLLOWEE), denied, {}, frozenset())[1] is None, "denied: not following at all"
    refollowed, _ = step(UserFollowed(event_id="z", actor_id="me", occurred_at=T0, followee_id=FOLLOWEE), denied, {})
    assert step(_published(FOLLOWEE), refollowed, {}, private)[1] is None, "a new follow is a request again"
    assert step(_published(FOLLOWEE), refollowed, {}, frozenset())[1] is not None, "gone public: a plain follow"
    unfollowed, _ = step(
        UserUnfollowed(event_id="w", actor_id="me", occurred_at=T0, followee_id=FOLLOWEE),
        Audience("me", followees=frozenset({FOLLOWEE}), opened=frozenset({FOLLOWEE})),
        {},
    )
    assert unfollowed.opened == frozenset()


def test_a_mention_in_a_comment_on_a_private_authors_article_reaches_only_those_it_opens() -> None:
    comment = CommentPosted(
        event_id="c", actor_id=FOLLOWEE, occurred_at=T0, article_id="a1", comment_id=1, body="hi @me", mentions=("me",)
    )
    authors = {"a1": FOLLOWEE}
    assert step(comment, Audience("me"), authors, frozenset({FOLLOWEE}))[1] is None
    opened = Audience("me", followees=frozenset({FOLLOWEE}), opened=frozenset({FOLLOWEE}))
    assert step(comment, opened, authors, frozenset({FOLLOWEE}))[1] is not None
    assert step(comment, Audience("me"), authors, frozenset())[1] is not None
