"""Who follows and who blocks whom: one document per (actor, other user) pair, the last event wins."""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import Event, UserBlocked, UserFollowed, UserUnblocked, UserUnfollowed
from reducers.base import Body, DocKey, Reducer, by_event_type
from reducers.documents import Block, Follow

FOLLOWS = "follows"
BLOCKS = "blocks"


def follow_id(follower_id: str, followee_id: str) -> str:
    return f"{follower_id}:{followee_id}"


def block_id(blocker_id: str, blocked_id: str) -> str:
    return f"{blocker_id}:{blocked_id}"


class FollowsReducer(Reducer):
    collections = (FOLLOWS, BLOCKS)

    def keys(self, event: Event) -> tuple[DocKey, ...]:
        if isinstance(event, (UserFollowed, UserUnfollowed)):
            return ((FOLLOWS, follow_id(event.actor_id, event.followee_id)),)
        if isinstance(event, (UserBlocked, UserUnblocked)):
            return ((BLOCKS, block_id(event.actor_id, event.blocked_id)),)
        return ()

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        follow: Follow = {
            "follower_id": event.actor_id,
            "followee_id": event.followee_id,
            "active": isinstance(event, UserFollowed),
            "updated_at": event.occurred_at,
        }
        return {self.keys(event)[0]: follow}

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
