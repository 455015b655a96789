"""Every document a reducer writes fits its collection's mapping, as Elasticsearch would check it.

The mappings are `dynamic: strict`: Elasticsearch refuses a body with a field the
CollectionSpec lacks, or a value its field type cannot take, where SQLite would
store it. Each collection's TypedDict (reducers/documents.py) must name the same
fields as its spec, and every body the fold writes, from generated logs, must fit
the spec and have every field of the TypedDict.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping

import orjson
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from events.catalogue import Event
from events.routing import ROUTES
from projections.store import CollectionSpec, FieldType
from projections.views import VIEWS, View
from reducers.base import Body, State, Versioned, fold
from tests.unit.event_strategies import any_event, logs, place

VIEWS_BY_NAME = {view.name: view for view in VIEWS}
PROPERTY = settings(max_examples=60, deadline=None)
LONG_RANGE = range(-(2**63), 2**63)

# The Python type of each field type's values, as Elasticsearch accepts them in a body.
PYTHON_TYPES: dict[FieldType, type] = {
    "keyword": str,
    "text": str,
    "long": int,
    "date": int,  # epoch_millis
    "boolean": bool,
    "object": dict,
    "secret": str,
}


def declared(document: type) -> dict[str, object]:
    """A TypedDict's fields and their types."""
    return typing.get_type_hints(document)


def _without_none(hint: object) -> object:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner
    return hint


def collections() -> list[tuple[str, str]]:
    return [(view.name, alias) for view in VIEWS for alias in view.collections]


# -- (a) the TypedDicts and the mappings name the same fields ------------------------------------


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_every_collection_has_a_document_type(view: View) -> None:
    assert set(view.documents) == set(view.collections)


@pytest.mark.parametrize(("view_name", "alias"), collections())
def test_document_type_names_the_specs_fields_with_their_types(view_name: str, alias: str) -> None:
    view = VIEWS_BY_NAME[view_name]
    spec, fields = view.collections[alias], declared(view.documents[alias])
    assert set(fields) == set(spec.fields)
    for name, hint in fields.items():
        expected = PYTHON_TYPES[spec.fields[name]]
        held = _without_none(hint)
        if name in spec.lists:
            assert typing.get_origin(held) is list and typing.get_args(held) == (expected,), (name, hint)
        else:
            assert (typing.get_origin(held) or held) is expected, (name, hint)


# -- (b) every written body fits its mapping ----------------------------------------------------


def _fits(kind: FieldType, value: object) -> bool:
    if kind in ("long", "date"):
        return isinstance(value, int) and not isinstance(value, bool) and value in LONG_RANGE
    return isinstance(value, PYTHON_TYPES[kind])


def refusals(spec: CollectionSpec, body: Mapping[str, object]) -> list[str]:
    """Why a `dynamic: strict` index with this spec's mapping would refuse the body (nothing if it would not).

    Elasticsearch takes null for any field and inside arrays. A field the spec does not list
    must hold one value: SQLite keeps it in a scalar column.
    """
    problems = []
    for name, value in body.items():
        kind = spec.fields.get(name)
        if kind is None:
            problems.append(f"{name!r} is not in the mapping")
        elif value is None:
            continue
        elif name in spec.lists:
            if not isinstance(value, list):
                problems.append(f"{name!r} is a list field, got {value!r}")
            elif not all(item is None or _fits(kind, item) for item in value):
                problems.append(f"{name!r} holds {kind} values, got {value!r}")
        elif not _fits(kind, value):
            problems.append(f"{name!r} is {kind}, got {value!r}")
    return problems


def written(view: View, events: list[Event]) -> Iterator[tuple[str, Body]]:
    """(collection, body) of every document write the view's Projector would make for this log.

    The events of the view's topics are folded in log order, one per batch so that every
    body the reducer produces is written, with the state carried through JSON as a store
    carries it (the Projector's fold path, without its I/O).
    """
    state: State = {}
    for topic, _, offset, event in place(events):
        if topic not in view.topics:
            continue
        for (collection, doc_id), changed in fold(view.reducer, state, [(offset + 1, event)]).items():
            yield collection, changed.body
            state[(collection, doc_id)] = Versioned(orjson.loads(orjson.dumps(changed.body)), changed.version)


def view_logs(view: View) -> st.SearchStrategy[list[Event]]:
    """Logs over the small universe of the event types on the view's topics (the only ones it reads)."""
    return logs(*[name for name, route in ROUTES.items() if route.topic in view.topics])


def check_written(view: View, events: list[Event]) -> None:
    for collection, body in written(view, events):
        assert collection in view.collections, collection
        assert refusals(view.collections[collection], body) == [], (collection, body)
        assert set(body) == set(declared(view.documents[collection])), (collection, body)


@PROPERTY
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
@given(data=st.data())
def test_every_body_written_from_colliding_events_fits_its_mapping(view: View, data: st.DataObject) -> None:
    """Logs over a small universe, where events find the documents earlier ones wrote."""
    check_written(view, data.draw(view_logs(view), label="events"))


@PROPERTY
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
@given(events=st.lists(any_event(), max_size=30))
def test_every_body_written_from_any_event_values_fits_its_mapping(view: View, events: list[Event]) -> None:
    """Events with any values their types allow: any text, any long as a time, empty and repeated tags."""
    check_written(view, events)


@pytest.mark.parametrize(("view_name", "alias"), collections())
def test_the_generated_logs_write_every_collection(view_name: str, alias: str) -> None:
    """The property above checks something for every collection: its logs can write each one."""
    view = VIEWS_BY_NAME[view_name]
    find(
        view_logs(view),
        lambda events: any(collection == alias for collection, _ in written(view, events)),
        settings=settings(max_examples=1000, database=None, phases=[Phase.generate]),
    )
