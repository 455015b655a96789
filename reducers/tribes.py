"""Tribes and memberships. A tribe's member count is derived from its member set."""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import Event, TribeCreated, TribeJoined, TribeLeft
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Membership, Tribe

TRIBES = "tribes"
MEMBERSHIPS = "memberships"


def membership_id(user_id: str, tribe_id: str) -> str:
    return f"{user_id}:{tribe_id}"


class TribesReducer(Reducer):
    collections = (TRIBES, MEMBERSHIPS)

    def keys(self, event: Event) -> tuple[DocKey, ...]:
        if isinstance(event, (TribeCreated, TribeJoined, TribeLeft)):
            return ((TRIBES, event.tribe_id), (MEMBERSHIPS, membership_id(event.actor_id, event.tribe_id)))
        return ()

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(TribeCreated)
    def _(self, event: TribeCreated, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        tribe_key, member_key = self.keys(event)
        existing = held(docs, tribe_key, Tribe)
        if existing is not None:
            return {member_key: _membership(event, active=True)} if existing["created_by"] == event.event_id else {}
        tribe: Tribe = {
            "tribe_id": event.tribe_id,
            "name": event.name,
            "name_key": event.name.casefold(),
            "description": event.description,
            "owner_id": event.actor_id,
            "created_by": event.event_id,
            "created_at": event.occurred_at,
            "members": [event.actor_id],
            "member_count": 1,
        }
        return {tribe_key: tribe, member_key: _membership(event, active=True)}

    @apply.register(TribeJoined)
    @apply.register(TribeLeft)
    def _(self, event: TribeJoined | TribeLeft, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        tribe_key, member_key = self.keys(event)
        tribe = held(docs, tribe_key, Tribe)
        if tribe is None:
            return {}
        joining = isinstance(event, TribeJoined)
        members = set(tribe["members"])
        if joining:
            members.add(event.actor_id)
        else:
            members.discard(event.actor_id)
        ordered = sorted(members)
        updated: Tribe = {**tribe, "members": ordered, "member_count": len(ordered)}
        return {tribe_key: updated, member_key: _membership(event, active=joining)}


def _membership(event: TribeCreated | TribeJoined | TribeLeft, *, active: bool) -> Membership:
    return {"user_id": event.actor_id, "tribe_id": event.tribe_id, "active": active, "updated_at": event.occurred_at}
