"""A key's parked events, retried after the rest of the log, leave every document as a clean fold does,
but those of the view's `shared` collections, which events of other keys feed (projections/dead_letters.py).

A poison event parks its key's later events with it; every other key goes on. `tribe dlq retry` then
applies the key's letters in order. A document that only that key feeds ends as if nothing had been
parked; one that other keys fed meanwhile may have passed the letters' versions, and the retry says so
(`Retried.left_behind`, tests/integration/test_view_faults.py).
"""

from __future__ import annotations

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from events.catalogue import Event, UserRegistered
from events.routing import ROUTES
from projections.views import VIEWS, View
from reducers.base import DocKey
from tests.unit.event_strategies import ENGAGEMENT_LOGS, State, engagement_logs, place, replay, with_handles

VIEWS_BY_NAME = {view.name: view for view in VIEWS}


def _key(event: Event) -> tuple[str, str]:
    route = ROUTES[event.type]
    return route.topic, route.key(event)


def _retried_and_clean(view: View, placed: list[tuple[int, Event]], failed: int) -> tuple[State, State]:
    """The view's documents when the key of `placed`'s `failed`-th event parks there, the rest of the log goes on,
    and the key's parked events are retried after it; and those of a clean fold of `placed`."""
    key = _key(placed[failed][1])
    parked = [pair for i, pair in enumerate(placed) if i >= failed and _key(pair[1]) == key]
    others = [pair for i, pair in enumerate(placed) if not (i >= failed and _key(pair[1]) == key)]
    return replay(view.reducer, parked, replay(view.reducer, others)), replay(view.reducer, placed)


def _differing(retried: State, clean: State) -> set[DocKey]:
    return {doc for doc in retried.keys() | clean.keys() if retried.get(doc) != clean.get(doc)}


@pytest.mark.parametrize("name", sorted(ENGAGEMENT_LOGS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_parked_key_retried_after_the_others_ends_as_a_clean_fold_but_for_shared_documents(
    name: str, data: st.DataObject
) -> None:
    view = VIEWS_BY_NAME[name]
    placed = [(offset + 1, event) for _, _, offset, event in place(data.draw(engagement_logs(name), label="log"))]
    failed = data.draw(st.integers(0, len(placed) - 1), label="parked at")
    differing = _differing(*_retried_and_clean(view, placed, failed))
    note(f"differing: {sorted(differing)}")
    assert {collection for collection, _ in differing} <= set(view.shared)


def test_a_parked_registration_retried_after_another_claimed_its_name_leaves_both_users_unlike_a_clean_fold() -> None:
    """Why the users view's `shared` names its users too: which user holds a contested name decides both users'
    documents, and a retry applies the parked claim after the other. `tribe replay users` gives the name back to
    the first claim in the log, as the retry's report says."""
    view = VIEWS_BY_NAME["users"]
    claims = [
        UserRegistered(event_id=user, actor_id=user, occurred_at=1, username="ann", email=user, password_hash="")
        for user in ("u1", "u2")
    ]
    placed = [(offset + 1, event) for _, _, offset, event in place([with_handles(c) for c in claims])]
    retried, clean = _retried_and_clean(view, placed, 0)
    differing = _differing(retried, clean)
    assert {collection for collection, _ in differing} == {"users", "handles"} == set(view.shared)
    assert ("users", "u1") in clean and ("users", "u2") in retried
