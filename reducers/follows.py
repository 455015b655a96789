"""Who follows and who blocks whom: one document per (actor, other user) pair, the last event wins.

Each user also has one small document of the last RECENT follows they made (`recent_follows`):
the feed pulls the authors followed in the last minutes with one get (services/feeds.py).

A follow of a private user is a request: the same document, `active`, not yet `approved`. The
followee's answer (FollowApproved, FollowDenied) is routed by the follower's id, to the partition
of the follow, so one partition orders a request, its answer and an unfollow. An approval applies
to an active follow only; a denial ends it (a request, or an approved follower removed). `since`
is when the current follow began, kept by a repeated follow: a follow that began before its
followee went private counts as approved (services/privacy.py), so going private writes nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import (
    Event,
    FollowApproved,
    FollowDenied,
    UserBlocked,
    UserFollowed,
    UserUnblocked,
    UserUnfollowed,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Block, Follow, RecentFollows

FOLLOWS = "follows"
BLOCKS = "blocks"
RECENT_FOLLOWS = "recent_follows"
RECENT = 20


def follow_id(follower_id: str, followee_id: str) -> str:
    return f"{follower_id}:{followee_id}"


def block_id(blocker_id: str, blocked_id: str) -> str:
    return f"{blocker_id}:{blocked_id}"


class FollowsReducer(Reducer):
    collections = (FOLLOWS, BLOCKS, RECENT_FOLLOWS)

    def keys(self, event: Event) -> tuple[DocKey, ...]:
        if isinstance(event, (UserFollowed, UserUnfollowed)):
            return ((FOLLOWS, follow_id(event.actor_id, event.followee_id)), (RECENT_FOLLOWS, event.actor_id))
        if isinstance(event, (UserBlocked, UserUnblocked)):
            return ((BLOCKS, block_id(event.actor_id, event.blocked_id)),)
        if isinstance(event, (FollowApproved, FollowDenied)):
            return ((FOLLOWS, follow_id(event.follower_id, event.actor_id)),)
        return ()

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        follow_key, recent_key = self.keys(event)
        before = held(docs, follow_key, Follow)
        # A repeated follow goes on as it was (its start, its approval); any other follow starts now.
        going_on = before if before is not None and before["active"] and isinstance(event, UserFollowed) else None
        follow: Follow = {
            "follower_id": event.actor_id,
            "followee_id": event.followee_id,
            "active": isinstance(event, UserFollowed),
            "updated_at": event.occurred_at,
            "since": event.occurred_at if going_on is None else follow_since(going_on),
            "approved": going_on is not None and going_on.get("approved", False),
        }
        held_recent = held(docs, recent_key, RecentFollows)
        pairs = [] if held_recent is None else list(zip(held_recent["followees"], held_recent["followed_at"]))
        pairs = [(f, at) for f, at in pairs if f != event.followee_id]
        if isinstance(event, UserFollowed):
            pairs = [(event.followee_id, event.occurred_at), *pairs][:RECENT]
        recent: RecentFollows = {
            "user_id": event.actor_id,
            "followees": [f for f, _ in pairs],
            "followed_at": [at for _, at in pairs],
        }
        return {follow_key: follow, recent_key: recent}

    @apply.register(FollowApproved)
    @apply.register(FollowDenied)
    def _(self, event: FollowApproved | FollowDenied, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (follow_key,) = self.keys(event)
        before = held(docs, follow_key, Follow)
        if before is None or not before["active"]:
            return {}
        approved = isinstance(event, FollowApproved)
        follow: Follow = {
            **before,
            "active": approved,
            "approved": approved,
            "updated_at": event.occurred_at,
            "since": follow_since(before),
        }
        return {follow_key: follow}

    @apply.register(UserBlocked)
    @apply.register(UserUnblocked)
    def _(self, event: UserBlocked | UserUnblocked, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        block: Block = {
            "blocker_id": event.actor_id,
            "blocked_id": event.blocked_id,
            "active": isinstance(event, UserBlocked),
            "updated_at": event.occurred_at,
        }
        return {self.keys(event)[0]: block}


def follow_since(follow: Follow) -> int:
    """When the follow began; a follows v2 document has no `since`: its last change is the best bound there."""
    return follow.get("since", follow["updated_at"])
