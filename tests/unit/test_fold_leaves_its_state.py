"""No reducer changes a body it is given.

A SQLite store serves one parsed body to every read of its version (projections/adapters/parsed_docs.py),
and a projector carries the bodies it wrote into its next batch: a reducer that changed one in place
would change what other reads see, and the same version would hold two bodies.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import Event
from events.routing import ROUTES
from projections.views import VIEWS, View
from reducers.base import State, fold
from tests.unit.event_strategies import logs, place

CREATING = ("ArticlePublished", "UserRegistered", "TribeCreated", "UserFollowed", "ArticleDelivered",
            "ContentReported", "UserReported", "CommentPosted")
"""Events that make the documents others act on: each example draws them beside the one type it tests."""


def _cases() -> list[tuple[View, str]]:
    return [(view, name) for view in VIEWS for name, route in sorted(ROUTES.items()) if route.topic in view.topics]


@pytest.mark.parametrize(("view", "type_name"), _cases(), ids=lambda c: getattr(c, "name", c))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_a_fold_leaves_the_bodies_it_is_given_as_they_were(view: View, type_name: str, data: st.DataObject) -> None:
    """One event per batch, so every document an event reads was written before it, as a store holds it."""
    on_topics = {name for name, route in ROUTES.items() if route.topic in view.topics}
    events: list[Event] = data.draw(logs(*sorted({type_name, *CREATING} & on_topics)), label="events")
    state: State = {}
    for topic, _, offset, event in place(events):
        if topic in view.topics:
            before = copy.deepcopy(state)
            changed = fold(view.reducer, state, [(offset + 1, event)])
            assert state == before, event
            state = {**state, **changed}
