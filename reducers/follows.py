"""Who follows whom: one document per (follower, followee) pair, the last event wins."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Mapping

from events.catalogue import Event, UserFollowed, UserUnfollowed
from reducers.base import Body, DocKey, Reducer

FOLLOWS = "follows"


def follow_id(follower_id: str, followee_id: str) -> str:
    return f"{follower_id}:{followee_id}"


class FollowsReducer(Reducer):
    collections = (FOLLOWS,)

    def keys(self, event: Event) -> tuple[DocKey, ...]:
        if isinstance(event, (UserFollowed, UserUnfollowed)):
            return ((FOLLOWS, follow_id(event.actor_id, event.followee_id)),)
        return ()

    @singledispatchmethod
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register
    def _(self, event: UserFollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {self.keys(event)[0]: _pair(event, active=True)}

    @apply.register
    def _(self, event: UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {self.keys(event)[0]: _pair(event, active=False)}


def _pair(event: UserFollowed | UserUnfollowed, *, active: bool) -> Body:
    return {
        "follower_id": event.actor_id,
        "followee_id": event.followee_id,
        "active": active,
        "updated_at": event.occurred_at,
    }
