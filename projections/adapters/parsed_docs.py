"""Documents a SQLite store read before, kept parsed, and served again while their versions stand.

A feed read gets about sixty documents by id, and parsing their JSON, with building and freeing
the dicts, was a fifth of its instructions; the same cards, authors and follows come back request
after request. A get still reads every asked document's version, in the statement that reads the
others, and serves a kept document only when its version is the stored one: a document is written
only with a higher version (SqliteStore's write plan), so equal versions of a table's document
hold the same body, and nothing kept is ever staler than what the statement read. A settled search
(Query.settled: a timeline's entries) reads its page's ids and versions the same way, and is served
from what is kept only when every document of the page is; otherwise it reads the page whole.

One thing gives one version two bodies: a table dropped and made again under its name (a version
of a view dropped and rebuilt, perhaps by other code). Dropping or making a table changes the
database's schema version, which every statement that reads documents also reads; a statement
that sees a newer one empties what is kept, and what a statement of an older schema read is not
kept, so a body is served only to statements of the schema its own statement read.

A body is shared by every read that is served it: the reads and the reducers build new dicts and
never change those they are given (the property tests of the reducers check it).
"""

from __future__ import annotations

import threading

from projections.store import Doc

KEPT_BYTES = 32 << 20
"""The JSON kept at most, in bytes; past that everything kept is dropped at once and the reads fill it again."""
SEEN_IDS = 1 << 18
"""Ids of documents read once, remembered at most; past that they are forgotten at once."""
REST = 7
"""When what was kept filled the budget and was served less than once a document, this many times as many
documents are read without keeping any, before keeping is tried again."""


class ParsedDocs:
    """Parsed documents by table and id, as of one schema version of the database.

    Keeping costs where it does not pay: reads at random over a store far larger than the
    budget fill it with documents not read again, and holding them then dropping them cost gets
    of 20 cards from 300,000 (each read twice) 135 us against 96 without keeping. So a document
    is kept from its second read on, and when what was kept filled the budget and was served
    less than once a document, keeping rests (REST). Reads look up without a lock; `observe` and
    `keep`, which also run on the store's reader thread, take one, so a body of an older schema
    is never kept after a newer one was seen.
    """

    def __init__(self, budget: int = KEPT_BYTES) -> None:
        self._budget = budget
        self._tables: dict[str, dict[str, Doc]] = {}
        self._bytes = 0
        self._seen: dict[str, set[str]] = {}
        self._seen_count = 0
        self._kept = 0  # documents kept since what is kept was last dropped
        self._served = 0  # and served since (counted without the lock: near enough)
        self._resting = 0  # documents still to read without keeping any
        self._schema = -1
        self._lock = threading.Lock()

    @property
    def keeps(self) -> bool:
        """Whether anything is ever kept (a budget of 0 keeps nothing)."""
        return self._budget > 0

    def split(self, table: str, ids: list[str]) -> tuple[list[str], list[str]]:
        """(the ids some version of which is kept: a get reads their versions only, the others)."""
        docs = self._tables.get(table)
        if docs is None:
            return [], ids
        known = [d for d in ids if d in docs]
        if not known:
            return [], ids
        return known, [d for d in ids if d not in docs] if len(known) < len(ids) else []

    def serve(self, table: str, ids: list[str], versions: list[int]) -> tuple[dict[str, Doc], list[str]]:
        """(the kept documents of these ids that are these versions, the ids of the others)."""
        docs = self._tables.get(table, {})
        served = {
            d: kept
            for d, version in zip(ids, versions, strict=True)
            if (kept := docs.get(d)) is not None and kept.version == version
        }
        self._served += len(served)
        return served, [d for d in ids if d not in served] if len(served) < len(ids) else []

    def observe(self, schema: int) -> bool:
        """Note a statement's schema version; whether what is kept belongs to it (else it is not served)."""
        with self._lock:
            if schema > self._schema:
                self._schema = schema
                self._drop()
                self._seen, self._seen_count = {}, 0
            return schema == self._schema

    def keep(self, table: str, docs: list[Doc], size: int, schema: int) -> None:
        """Keep what a statement of `schema` read of documents read before; the JSON of `docs` took `size` bytes."""
        with self._lock:
            if schema != self._schema or size > self._budget:
                return
            if self._resting > 0:
                self._resting -= len(docs)
                return
            kept, seen = self._tables.setdefault(table, {}), self._seen.setdefault(table, set())
            again = [doc for doc in docs if doc.id in kept or doc.id in seen]
            if len(again) < len(docs):
                if self._seen_count >= SEEN_IDS:
                    seen = set()
                    self._seen, self._seen_count = {table: seen}, 0
                seen.update(doc.id for doc in docs)
                self._seen_count += len(docs) - len(again)
            if not again:
                return
            share = size * len(again) // len(docs)
            if self._bytes + share > self._budget:
                if self._served < self._kept:
                    self._resting = REST * self._kept
                self._drop()
                if self._resting:
                    return
                kept = self._tables.setdefault(table, {})
            self._bytes += share
            self._kept += len(again)
            for doc in again:
                kept[doc.id] = doc

    def _drop(self) -> None:
        """Drop everything kept, and what was counted of it (under the lock)."""
        self._tables, self._bytes, self._kept, self._served = {}, 0, 0, 0
