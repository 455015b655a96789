"""The Store port: versioned documents in collections behind aliases.

It has Elasticsearch's semantics so that the Elasticsearch adapter is thin:
- a document carries a version (from the log position that produced it); a
  write whose version is not greater than the stored one is ignored, so
  redelivery and replay change nothing and a stale write loses;
- writes are bulk, and carry the checkpoint (next log offsets per partition)
  that the projection reached with them;
- readers name an alias; a physical collection per projection version sits
  behind it, and switching versions is one atomic alias change.

Beside the checkpoints the store keeps, per projection version, what runtimes in other
processes and the operator's commands must see: the fingerprint of the code that builds the
version, the status each runtime reports for it, and its dead letters (events it could not
apply, parked with their key's later events; projections/dead_letters.py).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple, TypeVar

MAX_WINDOW = 10_000
"""The deepest page either store serves: offset + size of a search (Elasticsearch's index.max_result_window)."""

FieldType = Literal["keyword", "text", "long", "boolean", "date", "object", "secret"]
"""`object` is stored with the document but not indexed (maps a reducer keeps, e.g. per-tag counts); so is
`secret`, a string nobody may search or sort on (a password hash)."""
R = TypeVar("R")
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
    compound: frozenset[tuple[str, ...]] = frozenset()
    """Indexes of several fields, in this order, that an embedded store keeps (Elasticsearch needs none). Two uses:

    - a range: the documents of one value of the first field, ordered by the second, read as a range that stops
      at the page: an author's newest articles cost the page, not a sort of everything they wrote;
    - a covering index: a count or a sum over the documents of one value of the first field, filtered and
      summed by the others, reads the index and no document: a user's stats count their live articles and sum
      their bumps at about a tenth of the cost of reading each card. Still one entry per document counted: a
      cost that grows with what the user wrote, not with who reads them.

    No document depends on them (not in fingerprints): a release that adds one makes it for the version it feeds.
    """


class Doc(NamedTuple):
    """A stored document. A named tuple, not a frozen dataclass: every read makes dozens (a feed about
    eighty), and a frozen dataclass sets each field through object.__setattr__ (4.6% of a feed's
    instructions, callgrind)."""

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
    settled: bool = False
    """The documents it finds seldom change once written (a timeline's entries): a store that keeps what it parsed
    (the embedded one: projections/adapters/parsed_docs.py) reads their versions first, and their bodies only
    when it does not hold every one of them. What it answers is the same either way."""


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


class StoreUnavailable(RuntimeError):
    """The store cannot answer or write now (a file it cannot read or write, a node that does not answer).

    Nothing of a write that raises it was kept (where the adapter writes in one transaction). The
    API answers it with 503 and Retry-After; the runtimes retry the batch.
    """

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DocumentRefused(Exception):
    """The store will not keep a document as it is (a body it cannot encode, a field its mapping refuses).

    Retrying the same write cannot succeed: the runtimes treat it as the fault of the events that
    produced the document, and park them (projections/dead_letters.py), where any other failure
    of a write is retried.
    """


RunnerState = Literal["running", "retrying", "parked", "fenced"]


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """What one runtime process says about one projection version it feeds (or leaves alone).

    `running`: feeding. `retrying`: its last attempt failed with `error`, `attempts` so far.
    `parked`: feeding every key but those with dead letters (`error` is the last cause).
    `fenced`: the version is built by other code (`error` says whose); this process does not feed it.
    `fingerprint` is the code of the runner; times are milliseconds since the epoch.
    """

    projection: str
    runner: str
    state: RunnerState
    fingerprint: str
    since: int
    updated_at: int
    error: str | None = None
    attempts: int = 0


LetterState = Literal["failed", "behind"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event one projection version could not apply, parked at its position in the log.

    `failed`: the event failed on its own, `attempts` times, the last with `cause`. `behind`: a
    later event of a key that has a failed one; it waits for that one, so the key's documents
    never skip an event. `key` is the log record's key (text; bytes that are not UTF-8 escaped).
    """

    projection: str
    topic: str
    partition: int
    offset: int
    key: str
    state: LetterState
    cause: str
    attempts: int
    first_failed_at: int
    last_failed_at: int

    @property
    def id(self) -> str:
        return f"{self.projection}:{self.topic}:{self.partition}:{self.offset}"


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
    async def claim_fingerprint(self, projection: str, fingerprint: str) -> str:
        """Record the fingerprint of the code that builds a projection version, unless one is recorded.

        Returns the recorded one: this one, or the one another process recorded first.
        """

    @abc.abstractmethod
    async def fingerprints(self) -> dict[str, str]:
        """Every projection version's recorded fingerprint."""

    @abc.abstractmethod
    async def put_status(self, status: RunnerStatus) -> None:
        """Record a runner's status for a projection version, replacing its previous one."""

    @abc.abstractmethod
    async def statuses(self) -> list[RunnerStatus]:
        """Every runner status, by projection and runner."""

    @abc.abstractmethod
    async def remove_statuses(self, projection: str, runners: Sequence[str]) -> None:
        """Forget these runners' statuses for a projection version."""

    @abc.abstractmethod
    async def park(self, letters: Sequence[DeadLetter]) -> None:
        """Add dead letters; one whose position is parked already is left as it is."""

    @abc.abstractmethod
    async def put_dead_letter(self, letter: DeadLetter) -> None:
        """Add a dead letter, or replace the one at its position (a retry that failed again)."""

    @abc.abstractmethod
    async def dead_letters(self, projection: str | None = None) -> list[DeadLetter]:
        """The dead letters of one projection version (or all), by projection, topic, partition and offset."""

    @abc.abstractmethod
    async def remove_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Delete these dead letters (by projection and position)."""

    @abc.abstractmethod
    async def drop_records(self, projection: str) -> None:
        """Forget a projection version's fingerprint, runner statuses and dead letters."""

    @abc.abstractmethod
    async def get(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        """The documents with these ids that exist; `collection` may be an alias."""

    @abc.abstractmethod
    async def get_many(self, ids: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Doc]]:
        """`get` of several collections (or aliases) at once: for each, the documents with its ids that exist.

        For a read that needs documents of several views and knows every id before it reads
        any (a page of a feed: its cards, their authors, the reader's follows and bumps of
        them): one round trip, one statement or one request.
        """

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

    async def unless_written(self, read: str, compute: Callable[[], Awaitable[R]]) -> R:
        """What `compute()` answers, or what it answered last time for `read` if nothing was written since.

        For the few reads every request makes alike (who is suspended, who is read by pull): their
        answer is the same for everyone and changes rarely. `read` names the read: the same name,
        the same reads. A store that cannot tell whether anything was written computes each time.
        """
        return await compute()

    @abc.abstractmethod
    async def terms(self, collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        """The most frequent values of `field` among matching documents, with their counts."""

    @abc.abstractmethod
    async def sum_of(self, collection: str, field: str, query: Query) -> float:
        """The sum of a numeric field over the matching documents."""

    @abc.abstractmethod
    async def expunge(self) -> None:
        """Remove for good what overwritten documents held (an erasure's): free space, old index entries.

        Costs what was overwritten since the last expunge, by any process writing the store, not
        what the store holds; still more than a write: called after an erasure and a rebuild, never
        per write.
        """

    async def close(self) -> None:
        """Release connections; the default has none."""
