"""A batch whose write a store kept only part of, redelivered through the Projector, gives the clean documents.

tests/unit/test_engagement.py states the property on the fold alone; here it runs through the
one write path (projections/processor.py) against each Store adapter, written once as an
abstract class (style.md item 6). A store is wrapped so that one write keeps a drawn subset of
the batch's documents, records no checkpoint and fails, as an Elasticsearch bulk cut by a crash
or a per-item failure would. The runtime then redelivers the batch from the stored checkpoint
with a new Projector, and every document of the view must be the one a clean write gives.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.log import Entry, Position
from projections.adapters.elasticsearch_store import ElasticsearchStore
from projections.adapters.sqlite_store import SqliteStore
from projections.processor import Projector
from projections.store import Checkpoint, DocWrite, Query, Store
from projections.views import VIEWS, View
from tests.sealed import sealed_codec
from tests.unit.event_strategies import ENGAGEMENT_LOGS, engagement_logs, place

CODEC = sealed_codec()
ENGAGED = [view for view in VIEWS if view.name in ENGAGEMENT_LOGS]
Documents = dict[tuple[str, str], tuple[int, dict[str, Any]]]


class Cut(ConnectionError):
    """The store kept part of the batch and failed."""


class Cutting:
    """A store whose next write, once `keep` is set, keeps the documents `keep` chooses, no checkpoint, and fails."""

    keep: Callable[[DocWrite], bool] | None = None

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        keep, self.keep = self.keep, None
        if keep is None:
            await super().write(writes, checkpoint)
            return
        await super().write([w for w in writes if keep(w)], Checkpoint(checkpoint.projection, {}))
        raise Cut("the store kept part of the batch")


class CuttingSqliteStore(Cutting, SqliteStore):
    pass


class CuttingElasticsearchStore(Cutting, ElasticsearchStore):
    pass


def _entries(view: View, events: list[Any]) -> list[Entry]:
    return [
        Entry(Position(topic, partition, offset), b"", CODEC.encode(event))
        for topic, partition, offset, event in place(events)
        if topic in view.topics
    ]


async def _documents(store: Store, view: View) -> Documents:
    found: Documents = {}
    for alias in view.collections:
        async for doc in store.every(view.physical(alias), Query(size=1000, with_total=False)):
            found[(alias, doc.id)] = (doc.version, doc.body)
    return found


class PartialWriteContract:
    """Subclasses open a fresh, empty store of their adapter, wrapped to cut a write."""

    async def open(self, name: str) -> Any:
        raise NotImplementedError

    async def dispose(self, store: Any) -> None:
        await store.close()

    async def check(self, view: View, events: list[Any], start: int, keep: Callable[[DocWrite], bool]) -> None:
        await CODEC.prepare(events)
        entries = _entries(view, events)
        prefix, batch = entries[:start], entries[start:]
        clean, cut = await self.open("clean"), await self.open("cut")
        try:
            for store in (clean, cut):
                projector = Projector(store, CODEC, view)
                await projector.ensure_collections()
                await projector.process(prefix)
            await Projector(clean, CODEC, view).process(batch)
            cut.keep = keep
            if batch:
                with pytest.raises(Cut):
                    await Projector(cut, CODEC, view).process(batch)
            await Projector(cut, CODEC, view).process(batch)  # redelivered from the checkpoint before it
            assert await _documents(cut, view) == await _documents(clean, view)
        finally:
            await self.dispose(clean)
            await self.dispose(cut)

    @pytest.mark.parametrize("view", ENGAGED, ids=lambda v: v.name)
    @settings(max_examples=25, deadline=None)
    @given(data=st.data())
    def test_a_batch_redelivered_after_a_cut_write_gives_the_documents_of_a_clean_write(
        self, view: View, data: st.DataObject
    ) -> None:
        events = data.draw(engagement_logs(view.name), label="events")
        start = data.draw(st.integers(0, len(events)), label="batch start")
        kept = data.draw(st.randoms(use_true_random=False), label="which writes are kept")
        asyncio.run(self.check(view, events, start, lambda _: kept.random() < 0.5))


class TestSqlitePartialWrites(PartialWriteContract):
    async def open(self, name: str) -> CuttingSqliteStore:
        return CuttingSqliteStore(Path(tempfile.mkdtemp(prefix="tribe-partial-")) / f"{name}.db")

    async def dispose(self, store: Any) -> None:
        await store.close()
        shutil.rmtree(store._path.parent)


ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.mark.elasticsearch
@pytest.mark.skipif(
    not ELASTICSEARCH_URL,
    reason="ELASTICSEARCH_URL is not set: no Elasticsearch to run against (docs/elasticsearch.md shows how)",
)
class TestElasticsearchPartialWrites(PartialWriteContract):
    """Each store gets its own index prefix; its indices are deleted afterwards."""

    async def open(self, name: str) -> CuttingElasticsearchStore:
        return CuttingElasticsearchStore.from_url(ELASTICSEARCH_URL, prefix=f"partial-{uuid.uuid4().hex[:12]}-")

    async def dispose(self, store: Any) -> None:
        found = await store.client.indices.get(index=f"{store.prefix}*", allow_no_indices=True)
        if found.body:
            await store.client.indices.delete(index=sorted(found.body))
        await store.close()
