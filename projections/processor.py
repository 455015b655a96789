"""The one write path from log entries to documents, shared by every runtime and by replay.

`Projector.process` decodes a batch of entries (of any partitions, each one's in
order: a document is fed by one partition), loads the documents the events touch,
folds them (reducers/base.py), and hands the changed documents and the new
checkpoint to the store in one call.

`submit` does the same but returns once the write has started, so the store writes one batch
while the caller reads and folds the next (the store's writer is a thread, the fold holds the
event loop): a pipeline of two. The documents of the batch in flight are read from memory,
since the store may not hold them yet. `flush` waits for the write; a failed write fails the
next `submit` or `flush`, and the caller then resumes from the stored checkpoint.

A failure that is an event's own fault says so: bytes that do not decode raise `Undecodable`,
a reducer that raises `ReducerFailed` (the store's `DocumentRefused` is the third kind). The
runtimes park such events (projections/dead_letters.py); any other failure is retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from events.codec import EventCodec
from events.log import Entry
from projections.store import Checkpoint, DocWrite, Store
from projections.views import View
from reducers.base import DocKey, Versioned, fold


class EventFailed(Exception):
    """An event of the batch cannot be applied, however often it is retried (which one: see dead_letters.isolate)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class Undecodable(EventFailed):
    """Bytes of the batch are not an event this codec reads."""


class ReducerFailed(EventFailed):
    """The view's reducer raised on an event of the batch."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did; the runtime that ran it logs it as its one line for the batch."""

    events: int
    writes: int
    ms: float  # from the start of the fold to the end of the write (to the start of the write for `submit`)


class Projector:
    """Feeds one version of one view."""

    def __init__(self, store: Store, codec: EventCodec, view: View, version: int | None = None) -> None:
        self.store = store
        self.codec = codec
        self.view = view
        self.version = view.version if version is None else version
        self.projection_id = view.projection_id(self.version)
        self._physical = view.targets(self.version)
        self._in_flight: asyncio.Future[None] | None = None
        self._unwritten: dict[DocKey, Versioned] = {}
        self._folded = view.reducer.folded_types()  # None: every type; else the others are skipped undecoded

    async def ensure_collections(self) -> None:
        for alias, spec in self.view.collections.items():
            await self.store.ensure_collection(self.view.physical(alias, self.version), spec)

    async def process(self, entries: Sequence[Entry], skipped: Sequence[Entry] = ()) -> BatchResult:
        """Fold and write one batch; returns once it is stored with its checkpoint."""
        started = time.perf_counter()
        result = await self.submit(entries, skipped)
        await self.flush()
        return replace(result, ms=round((time.perf_counter() - started) * 1000, 2))

    async def flush(self) -> None:
        """Wait for the batch in flight to be stored; raises what its write raised."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        try:
            await in_flight
        finally:
            self._unwritten = {}

    async def submit(self, entries: Sequence[Entry], skipped: Sequence[Entry] = ()) -> BatchResult:
        """Fold one batch and start its write, after the previous batch's write has finished.

        `skipped` entries (parked ones) are not folded, but the checkpoint written moves past them too.
        """
        if not entries and not skipped:
            return BatchResult(0, 0, 0.0)
        started = time.perf_counter()
        decode, folded, type_of = self.codec.decode, self._folded, self.codec.type_name
        try:
            chosen = list(entries) if folded is None else [e for e in entries if type_of(e.value) in folded]
        except Exception as exc:
            raise Undecodable(exc) from exc
        # Keys first, outside the event's fault: a key store that does not answer is retried, not parked.
        await self.codec.prepare_to_decode(e.value for e in chosen)
        try:
            events = [(e.position.offset + 1, decode(e.value)) for e in chosen]
        except Exception as exc:
            raise Undecodable(exc) from exc
        reducer = self.view.reducer
        wanted: dict[str, set[str]] = {}
        try:
            for _, event in events:
                for collection, doc_id in reducer.keys(event):
                    wanted.setdefault(collection, set()).add(doc_id)
        except Exception as exc:
            raise ReducerFailed(exc) from exc
        state: dict[DocKey, Versioned] = {}
        unwritten = self._unwritten
        for collection, ids in wanted.items():
            stored = sorted(i for i in ids if (collection, i) not in unwritten)
            found = await self.store.get(self._physical[collection], stored) if stored else {}
            for doc_id, doc in found.items():
                state[(collection, doc_id)] = Versioned(doc.body, doc.version)
            for doc_id in ids:
                if (collection, doc_id) in unwritten:
                    state[(collection, doc_id)] = unwritten[(collection, doc_id)]
        try:
            changed = fold(reducer, state, events)
        except Exception as exc:
            raise ReducerFailed(exc) from exc
        physical = self._physical
        writes = [DocWrite(physical[c], doc_id, v.version, v.body) for (c, doc_id), v in changed.items()]
        offsets: dict[tuple[str, int], int] = {}
        for entry in (*entries, *skipped) if skipped else entries:
            tp = (entry.position.topic, entry.position.partition)
            offsets[tp] = max(offsets.get(tp, 0), entry.position.offset + 1)
        await self.flush()
        self._unwritten = changed
        self._in_flight = asyncio.ensure_future(self.store.write(writes, Checkpoint(self.projection_id, offsets)))
        return BatchResult(len(entries), len(writes), round((time.perf_counter() - started) * 1000, 2))

