"""Who follows and who blocks whom: one document per (actor, other user) pair, the last event wins.

Each user also has one small document of the last RECENT follows they made (`recent_follows`):
the feed pulls the authors followed in the last minutes with one get (services/feeds.py).

A user's followers are counted per partition of the follows topic: one `follower_counts` document
per (followee, partition), fed by that partition only, moved by each follow's transition (+1 when
it becomes active, -1 when it ends, 0 for a repeat or an approval). Reading a user's follower
count sums their few counters (SocialReads.stats): the same for a user with a million followers.
It cannot double count: the fold applies an event to a counter only while the counter has not
applied it. It cannot miss: the transition comes from the follow's record of this very event when
a partial write kept the follow and lost the counter, and from its state otherwise
(reducers/engagement.py says within which bound).

A follow of a private user is a request: the same document, `active`, not yet `approved`. The
followee's answer (FollowApproved, FollowDenied) is routed by the follower's id, to the partition
of the follow, so one partition orders a request, its answer and an unfollow. An approval applies
to an active follow only; a denial ends it (a request, or an approved follower removed); an answer
to no active follow changes nothing but its mark in the (inactive) follow document. `since`
is when the current follow began, kept by a repeated follow: a follow that began before its
followee went private counts as approved (services/privacy.py), so going private writes nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from events.catalogue import (
    Event,
    FollowApproved,
    FollowDenied,
    UserBlocked,
    UserFollowed,
    UserUnblocked,
    UserUnfollowed,
)
from events.routing import source_of
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Block, Follow, FollowerCount, RecentFollows
from reducers.engagement import Step, counted, step

FOLLOWS = "follows"
BLOCKS = "blocks"
RECENT_FOLLOWS = "recent_follows"
FOLLOWER_COUNTS = "follower_counts"
RECENT = 20


def follow_id(follower_id: str, followee_id: str) -> str:
    return f"{follower_id}:{followee_id}"


def block_id(blocker_id: str, blocked_id: str) -> str:
    return f"{blocker_id}:{blocked_id}"


def follower_count_id(followee_id: str, partition: int) -> str:
    """The counter of `followee_id`'s followers whose follows one partition of the follows topic orders."""
    return f"{followee_id}@{partition}"


class FollowsReducer(Reducer):
    collections = (FOLLOWS, BLOCKS, RECENT_FOLLOWS, FOLLOWER_COUNTS)

    def keys(self, event: Event) -> tuple[DocKey, ...]:
        if isinstance(event, (UserFollowed, UserUnfollowed)):
            return (
                (FOLLOWS, follow_id(event.actor_id, event.followee_id)),
                (RECENT_FOLLOWS, event.actor_id),
                (FOLLOWER_COUNTS, follower_count_id(event.followee_id, source_of(event)[1])),
            )
        if isinstance(event, (UserBlocked, UserUnblocked)):
            return ((BLOCKS, block_id(event.actor_id, event.blocked_id)),)
        if isinstance(event, (FollowApproved, FollowDenied)):
            return (
                (FOLLOWS, follow_id(event.follower_id, event.actor_id)),
                (FOLLOWER_COUNTS, follower_count_id(event.actor_id, source_of(event)[1])),
            )
        return ()

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        follow_key, recent_key, count_key = self.keys(event)
        before = held(docs, follow_key, Follow)
        following = isinstance(event, UserFollowed)
        moved = step(before, event, following)
        # A repeated follow goes on as it was (its start, its approval); any other follow starts now.
        going_on = before if before is not None and before["active"] and following else None
        follow: Follow = {
            "follower_id": event.actor_id,
            "followee_id": event.followee_id,
            "active": following,
            "updated_at": event.occurred_at,
            "since": event.occurred_at if going_on is None else follow_since(going_on),
            "approved": going_on is not None and going_on.get("approved", False),
            "recent": _recent(before, moved),
        }
        held_recent = held(docs, recent_key, RecentFollows)
        pairs = [] if held_recent is None else list(zip(held_recent["followees"], held_recent["followed_at"]))
        pairs = [(f, at) for f, at in pairs if f != event.followee_id]
        if following:
            pairs = [(event.followee_id, event.occurred_at), *pairs][:RECENT]
        recent: RecentFollows = {
            "user_id": event.actor_id,
            "followees": [f for f, _ in pairs],
            "followed_at": [at for _, at in pairs],
        }
        return {follow_key: follow, recent_key: recent, **_counted(event, docs, count_key, event.followee_id, moved)}

    @apply.register(FollowApproved)
    @apply.register(FollowDenied)
    def _(self, event: FollowApproved | FollowDenied, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        follow_key, count_key = self.keys(event)
        before = held(docs, follow_key, Follow)
        moved = step(before, event, isinstance(event, FollowApproved))
        # An answer to no follow is still recorded: redelivered after a partial write kept a later
        # follow of its batch, it must find its mark, not take that follow for the one it answers.
        moved = replace(moved, after=moved.before and moved.after)
        follow: Follow = {
            "follower_id": event.follower_id,
            "followee_id": event.actor_id,
            "active": moved.after,
            "approved": moved.after,
            "updated_at": event.occurred_at,
            "since": event.occurred_at if before is None else follow_since(before),
            "recent": _recent(before, moved),
        }
        return {follow_key: follow, **_counted(event, docs, count_key, event.actor_id, moved)}

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


def _recent(before: Follow | None, moved: Step) -> list[str]:
    """The follow's record of its latest events after this one (as it was, when it already holds this one)."""
    if moved.recent is not None:
        return moved.recent
    return before["recent"] if before is not None else []


def _counted(
    event: Event, docs: Mapping[DocKey, Body | None], key: DocKey, followee_id: str, moved: Step
) -> dict[DocKey, Body]:
    """The followee's counter in the event's partition after the follow's step, when the step moves it."""
    if not moved.delta:
        return {}
    counter = held(docs, key, FollowerCount)
    written: FollowerCount = {
        "user_id": followee_id,
        "partition": source_of(event)[1],
        "count": counted(counter["count"] if counter is not None else 0, moved),
    }
    return {key: written}
