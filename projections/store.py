"""The Store port: versioned documents in collections behind aliases.

It has Elasticsearch's semantics so that the Elasticsearch adapter is thin:
- a document carries a version (from the log position that produced it); a
  write whose version is not greater than the stored one is ignored, so
  redelivery and replay change nothing and a stale write loses;
- writes are bulk, and carry the checkpoint (next log offsets per partition)
  that the projection reached with them;
- readers name an alias; a physical collection per projection version sits
  behind it, and switching versions is one atomic alias change.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

FieldType = Literal["keyword", "text", "long", "boolean", "date", "object"]
"""`object` is stored with the document but not indexed (maps a reducer keeps, e.g. per-tag counts)."""
Body = dict[str, Any]
"""A document's body as a store gives it back: a JSON object."""
Offsets = dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """The mapping of one collection: field name to type.

    A field named in `lists` holds a list of values of its type (Elasticsearch does not
    distinguish; SQLite needs to know to look inside the list). `indexed` names the fields
    the read API filters, sorts or searches on: an embedded store keeps an index of each, and
    only of those, since indexes are rewritten with the document (Elasticsearch indexes every
    mapped field regardless). None: every field but booleans, which split a collection in two
    at best.
    """

    fields: dict[str, FieldType]
    lists: frozenset[str] = frozenset()
    indexed: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Doc:
    id: str
    version: int
    body: Body


@dataclass(frozen=True, slots=True)
class DocWrite:
    collection: str
    id: str
    version: int
    body: Mapping[str, object]  # a JSON object: a reducer writes its collection's TypedDict (reducers/documents.py)


@dataclass(frozen=True, slots=True)
class Filter:
    """`field` equals one of `values`; on a list field, any element does. `negate` inverts it."""

    field: str
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Prefix:
    """`field` (a keyword) starts with `value`."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class Query:
    """Documents matching every filter, at least one of `any_of` (if given), the prefix and every word of `text`.

    Text matches whole words (tokens), case-insensitively, in `text_fields` (default: every text field).
    """

    filters: tuple[Filter, ...] = ()
    any_of: tuple[Filter, ...] = ()
    prefix: Prefix | None = None
    text: str | None = None
    text_fields: tuple[str, ...] = ()
    sort: tuple[tuple[str, Literal["asc", "desc"]], ...] = ()
    size: int = 20
    offset: int = 0
    search_after: tuple[Any, ...] | None = None
    with_total: bool = True


@dataclass(frozen=True, slots=True)
class Page:
    docs: list[Doc]
    total: int | None
    next_search_after: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far one projection version has got: next offset to read per (topic, partition)."""

    projection: str
    offsets: Offsets = field(default_factory=dict)


class Store(abc.ABC):
    @abc.abstractmethod
    async def ensure_collection(self, name: str, spec: CollectionSpec) -> None:
        """Create the physical collection if it does not exist."""

    @abc.abstractmethod
    async def drop_collection(self, name: str) -> None:
        """Delete a physical collection and its documents."""

    @abc.abstractmethod
    async def set_aliases(self, targets: dict[str, str]) -> None:
        """Point each alias at its collection, all in one atomic step.

        Readers in other processes may see the switch a moment later (within the SQLite
        adapter's ALIAS_TTL), but never part of it.
        """

    @abc.abstractmethod
    async def collections(self) -> list[str]:
        """Every physical collection, sorted by name."""

    @abc.abstractmethod
    async def aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at."""

    @abc.abstractmethod
    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        """Bulk-write documents (each kept only if its version is newer), then record the checkpoint.

        The checkpoint only moves forward. Adapters that can (SQLite) do both in one transaction;
        the others write the checkpoint after every document write has succeeded. A write to a
        collection never ensured raises KeyError and records no checkpoint.
        """

    @abc.abstractmethod
    async def checkpoint(self, projection: str) -> Offsets:
        """The stored next offsets of a projection version (empty if it never wrote)."""

    @abc.abstractmethod
    async def drop_checkpoint(self, projection: str) -> None:
        """Forget a projection version's positions."""

    @abc.abstractmethod
    async def get(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        """The documents with these ids that exist; `collection` may be an alias."""

    @abc.abstractmethod
    async def search(self, collection: str, query: Query) -> Page:
        """Documents matching every filter and all words of the text, in the sort order, then by id."""

    async def every(self, collection: str, query: Query) -> AsyncIterator[Doc]:
        """Every document the query matches, page after page of `query.size` (with search_after)."""
        while True:
            page = await self.search(collection, query)
            for doc in page.docs:
                yield doc
            if page.next_search_after is None:
                return
            query = replace(query, search_after=page.next_search_after)

    @abc.abstractmethod
    async def terms(self, collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        """The most frequent values of `field` among matching documents, with their counts."""

    @abc.abstractmethod
    async def sum_of(self, collection: str, field: str, query: Query) -> float:
        """The sum of a numeric field over the matching documents."""

    async def close(self) -> None:
        """Release connections; the default has none."""
