"""Growth figure: `GET /api/tags` (ReadModels.tags) as the live articles grow, under writes.

For each size, the articles are published directly in the embedded store: the publications are
folded by the articles view's own reducer in memory, chunk by chunk, and their documents written
with the checkpoint of the last one (projecting 10^5 publications through the runtime would
measure nothing more). Each article carries 3 of 500 tags. Two figures per size:

- one aggregation over every live article, timed after a write (so `Store.unless_written` does
  not answer it): what the list costs whenever it is computed, which grows with the articles;
- how many aggregations 100 reads run in a process that has not computed the list yet, each read
  right after a write: what a stream of writes and home pages costs. The reads take less than
  TAGS_REFRESH seconds, so the answer is 1 where it was 100 before the list had a refresh period.
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path

from bench.common import fold_into, fresh_db
from bench.keys import codec as run_codec
from bench.workload import BASE_TIME_MS, article_id, user_id
from events.catalogue import ArticlePublished
from events.codec import EventCodec
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.queries import ReadModels
from projections.store import Checkpoint, DocWrite, Query
from projections.views import ARTICLES_VIEW, VIEWS

VOCABULARY = 500
TAGS_PER_ARTICLE = 3
READS = 100


def _published(n: int) -> ArticlePublished:
    return ArticlePublished(
        event_id=f"P{n:015d}",
        actor_id=user_id(n % 1_000),
        occurred_at=BASE_TIME_MS + n,
        article_id=article_id(n),
        slug=f"tagged-{n}",
        title="Tagged",
        description="d",
        body="b",
        tags=tuple(f"tag{(n * 7 + k * 131) % VOCABULARY}" for k in range(TAGS_PER_ARTICLE)),
    )


class CountingStore(SqliteStore):
    """The embedded store, counting the aggregations it runs."""

    aggregations = 0

    async def terms(self, collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        self.aggregations += 1
        return await super().terms(collection, field, query, size)


async def _write_between(store: SqliteStore, marker: str, version: int) -> None:
    """A write the aggregation does not count (a deleted article), which voids `Store.unless_written`."""
    body = {**(await store.get("articles", [article_id(0)]))[article_id(0)].body, "deleted": True}
    await store.write([DocWrite(marker, "written-between", version, body)], Checkpoint("bench", {}))


async def _measure(store: CountingStore, codec: EventCodec, size: int, repeats: int) -> tuple[float, int]:
    live = await install(store, VIEWS)
    published = ((n + 1, _published(n)) for n in range(size))
    await fold_into(store, ARTICLES_VIEW, live[ARTICLES_VIEW.name], published, carry=lambda _: False)
    marker = ARTICLES_VIEW.targets(live[ARTICLES_VIEW.name])["articles"]
    versions = itertools.count(1)
    reads = ReadModels(store, codec.handle_id)
    seconds = []
    for _ in range(repeats):
        await _write_between(store, marker, next(versions))
        started = time.perf_counter()
        await reads.tags(fresh=True)
        seconds.append(time.perf_counter() - started)
    store.aggregations = 0
    serving = ReadModels(store, codec.handle_id)  # a process that has not computed the list yet
    for _ in range(READS):
        await _write_between(store, marker, next(versions))
        await serving.tags()
    return statistics.median(seconds), store.aggregations


async def tags_cost(workdir: Path, sizes: tuple[int, ...], repeats: int = 3) -> list[tuple[int, float, int]]:
    """For each number of live articles: (articles, median seconds of one aggregation, aggregations per READS reads)."""
    codec = run_codec()
    out = []
    try:
        for size in sizes:
            store = CountingStore(fresh_db(workdir, f"tags-{size}.db"))
            try:
                out.append((size, *await _measure(store, codec, size, repeats)))
            finally:
                await store.close()
        return out
    finally:
        await codec.close()
