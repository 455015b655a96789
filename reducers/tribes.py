"""Tribes and memberships: a membership per (user, tribe), and a tribe that keeps only its member count.

Every tribe event is keyed by tribe id, so a tribe and its memberships are fed by one
partition. A membership follows from its own state and the event (reducers/engagement.py);
it is written whatever the tribe's state. The tribe's count follows from its own state, the
event, and the membership's record of that event.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import Event, TribeCreated, TribeJoined, TribeLeft
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Membership, Tribe
from reducers.engagement import Step, counted, step

TRIBES = "tribes"
MEMBERSHIPS = "memberships"


def membership_id(user_id: str, tribe_id: str) -> str:
    return f"{user_id}:{tribe_id}"


class TribesReducer(Reducer):
    """`member_count` cannot double count: the fold applies an event to the tribe only while the tribe
    has not applied it, and a repeated join is a 0 transition of the membership. It cannot miss: the
    transition comes from the membership's record of this very event when a partial write kept the
    membership and lost the tribe, and from its state otherwise (reducers/engagement.py says within
    which bound)."""

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
        """The first creation of a tribe id makes its creator a member; another one changes nothing.

        Whether it is the first reads only what never changes in the tribe once it exists: the
        event that created it.
        """
        tribe_key, member_key = self.keys(event)
        existing = held(docs, tribe_key, Tribe)
        if existing is not None and existing["created_by"] != event.event_id:
            return {}
        changed, moved = _joined(event, held(docs, member_key, Membership), member_key, joining=True)
        if existing is None:
            tribe: Tribe = {
                "tribe_id": event.tribe_id,
                "name": event.name,
                "name_key": event.name.casefold(),
                "description": event.description,
                "owner_id": event.actor_id,
                "created_by": event.event_id,
                "created_at": event.occurred_at,
                "member_count": counted(0, moved),
            }
            changed[tribe_key] = tribe
        return changed

    @apply.register(TribeJoined)
    @apply.register(TribeLeft)
    def _(self, event: TribeJoined | TribeLeft, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        tribe_key, member_key = self.keys(event)
        joining = isinstance(event, TribeJoined)
        changed, moved = _joined(event, held(docs, member_key, Membership), member_key, joining=joining)
        tribe = held(docs, tribe_key, Tribe)
        if tribe is not None and moved.delta:
            updated: Tribe = {**tribe, "member_count": counted(tribe["member_count"], moved)}
            changed[tribe_key] = updated
        return changed


def _joined(
    event: TribeCreated | TribeJoined | TribeLeft, membership: Membership | None, key: DocKey, *, joining: bool
) -> tuple[dict[DocKey, Body], Step]:
    """The membership's step at the event, and its new body if it needs one."""
    moved = step(membership, event, joining)
    if moved.recent is None:
        return {}, moved
    written: Membership = {
        "user_id": event.actor_id,
        "tribe_id": event.tribe_id,
        "active": moved.after,
        "updated_at": event.occurred_at if membership is None or moved.delta else membership["updated_at"],
        "recent": moved.recent,
    }
    return {key: written}, moved
