"""The one write path from log entries to documents, shared by every runtime and by replay.

`Projector.process` decodes a batch of entries of one partition, loads the
documents the events touch, folds them (reducers/base.py), and hands the
changed documents and the new checkpoint to the store in one call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from events.codec import EventCodec
from events.log import Entry
from projections.store import Checkpoint, DocWrite, Store
from projections.views import View
from reducers.base import DocKey, Versioned, fold


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did; the runtime that ran it logs it as its one line for the batch."""

    events: int
    writes: int
    ms: float


class Projector:
    """Feeds one version of one view."""

    def __init__(self, store: Store, codec: EventCodec, view: View, version: int | None = None) -> None:
        self.store = store
        self.codec = codec
        self.view = view
        self.version = view.version if version is None else version
        self.projection_id = view.projection_id(self.version)

    async def ensure_collections(self) -> None:
        for alias, spec in self.view.collections.items():
            await self.store.ensure_collection(self.view.physical(alias, self.version), spec)

    async def process(self, entries: Sequence[Entry]) -> BatchResult:
        if not entries:
            return BatchResult(0, 0, 0.0)
        started = time.perf_counter()
        decode = self.codec.decode
        events = [(e.position.offset + 1, decode(e.value)) for e in entries]
        reducer = self.view.reducer
        wanted: dict[str, set[str]] = {}
        for _, event in events:
            for collection, doc_id in reducer.keys(event):
                wanted.setdefault(collection, set()).add(doc_id)
        state: dict[DocKey, Versioned] = {}
        for collection, ids in wanted.items():
            found = await self.store.get(self.view.physical(collection, self.version), sorted(ids))
            for doc_id, doc in found.items():
                state[(collection, doc_id)] = Versioned(doc.body, doc.version)
        changed = fold(reducer, state, events)
        writes = [
            DocWrite(self.view.physical(collection, self.version), doc_id, v.version, v.body)
            for (collection, doc_id), v in changed.items()
        ]
        offsets: dict[tuple[str, int], int] = {}
        for entry in entries:
            tp = (entry.position.topic, entry.position.partition)
            offsets[tp] = max(offsets.get(tp, 0), entry.position.offset + 1)
        await self.store.write(writes, Checkpoint(self.projection_id, offsets))
        return BatchResult(len(entries), len(writes), round((time.perf_counter() - started) * 1000, 2))
