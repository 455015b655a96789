"""What a reducer is, and the versioned fold every runtime shares.

A reducer names the documents an event touches (`keys`, from the event alone)
and, given their current bodies, returns the new bodies of those it changes
(`apply`). Documents are plain JSON-able dicts, typed per collection in
reducers/documents.py, and treated as immutable values: a reducer builds new
dicts, it never mutates the ones it was given.

`fold` is the one place events meet state, for the embedded runtime, the Faust
workers and replay alike. Every document fed by a reducer is fed by a single
log partition (see events/routing.py), so its version is the position of the
last event applied to it (offset + 1). `fold` applies an event to a document
only when the event is newer than the document: a redelivered event, or a
replayed suffix of the log, is a no-op whatever the reducer does.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar, TypeVarTuple, cast, overload

from events.catalogue import Event

Body = Mapping[str, object]
"""A document as the fold carries it: JSON-able, its shape that of its collection (reducers/documents.py)."""
DocKey = tuple[str, str]  # (collection, document id)
D = TypeVar("D", bound=Body)


def held(docs: Mapping[DocKey, Body | None], key: DocKey, document: type[D]) -> D | None:
    """The document at `key` as its collection's type, or None if it does not exist.

    The fold hands a reducer the bodies the store holds, which that reducer wrote for that collection
    (tests/unit/test_document_specs.py checks every body written against its collection).
    """
    return cast("D | None", docs.get(key))


class Reducer(abc.ABC):
    """A read model's fold. `collections` are the logical collections it writes."""

    collections: tuple[str, ...] = ()

    @abc.abstractmethod
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        """The documents this event may change; () for events this reducer ignores."""

    @abc.abstractmethod
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """New bodies for the documents the event changes (a subset of `keys(event)`)."""

    def folded_types(self) -> frozenset[str] | None:
        """The event types whose `keys` may name a document; None: any type may.

        A reducer whose `keys` dispatches by event type (`by_event_type`, whose default names no
        document) folds only the types registered on it: the write path skips the others without
        decoding them (tests/unit/test_reducers.py checks that the default names nothing).
        """
        keys = getattr(type(self), "keys", None)
        if isinstance(keys, by_event_type):
            return frozenset(t.__name__ for t in keys.table)
        return None


Owner = TypeVar("Owner")
Args = TypeVarTuple("Args")
R = TypeVar("R")
Method = TypeVar("Method", bound=Callable[..., Any])


class by_event_type(Generic[Owner, *Args, R]):
    """A method that dispatches on its event's exact type: one dict lookup per call.

    Used like functools.singledispatchmethod (`@keys.register(ArticleViewed)` under a default
    method), without its cost: on Python 3.11 singledispatchmethod builds a wrapper on every
    attribute access and resolves through the MRO with a weak-reference cache, several microseconds
    per call on the fold's hottest path. Events are final dataclasses, so the exact type suffices.
    An instance's dispatcher is built on its first access and kept in the instance's dict, where
    later accesses (several per event) find it, unless a subclass overrides the method. Arguments
    after the event are positional.
    """

    name: str  # the attribute it is bound to, where an instance keeps its dispatcher

    def __init__(self, default: Callable[[Owner, Event, *Args], R]) -> None:
        self.default: Callable[..., R] = default
        self.table: dict[type[Event], Callable[..., R]] = {}
        self.__doc__ = default.__doc__

    def __set_name__(self, owner: type[Owner], name: str) -> None:
        self.name = name

    def register(self, *event_types: type[Event]) -> Callable[[Method], Method]:
        def add(method: Method) -> Method:
            for event_type in event_types:
                self.table[event_type] = method
            return method

        return add

    @overload
    def __get__(self, instance: None, owner: type[Owner] | None = None) -> Self: ...

    @overload
    def __get__(self, instance: Owner, owner: type[Owner] | None = None) -> Callable[[Event, *Args], R]: ...

    def __get__(self, instance: Owner | None, owner: type[Owner] | None = None) -> Self | Callable[[Event, *Args], R]:
        if instance is None:
            return self
        table, default = self.table, self.default

        def dispatch(event: Event, *args: *Args) -> R:
            return table.get(type(event), default)(instance, event, *args)

        # Kept only where this is the method the instance's class has: a subclass that overrides it
        # and calls super() must keep reaching its own override on later accesses.
        if getattr(type(instance), self.name, None) is self:
            vars(instance)[self.name] = dispatch
        return dispatch


@dataclass(frozen=True, slots=True)
class Versioned:
    body: Body
    version: int


State = dict[DocKey, Versioned]


def fold(reducer: Reducer, state: Mapping[DocKey, Versioned], events: Iterable[tuple[int, Event]]) -> State:
    """Apply (version, event) pairs in order; return the documents that changed, at their new versions.

    `state` must hold every document the events' keys name that exists; it is not modified.
    An event is applied when one of its documents is missing or older than it, and only
    those documents take its result.
    """
    current: dict[DocKey, Versioned] = dict(state)
    changed: State = {}
    keys_of, apply = reducer.keys, reducer.apply
    for version, event in events:
        docs: dict[DocKey, Body | None] = {}
        stale = False
        for key in keys_of(event):
            held = current.get(key)
            if held is None:
                docs[key] = None
                stale = True
            else:
                docs[key] = held.body
                stale = stale or held.version < version
        if not stale:
            continue
        for key, body in apply(event, docs).items():
            held = current.get(key)
            if key in docs and (held is None or held.version < version):
                current[key] = changed[key] = Versioned(body, version)
    return changed
