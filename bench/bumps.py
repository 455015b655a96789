"""Growth figure: the cost of one more bump of an article that 10 to 10^6 users bump already.

For each size, the article's existing state is built directly in the embedded store: the bumps
are folded by the views' own reducers in memory, chunk by chunk, and their documents written
with the checkpoint of the last one (projecting 10^6 events through the runtime would cost
minutes and measure nothing more). Then new users bump it one at a time, each bump projected
alone through every view that reads it (articles, notifications, trending) with
Projector.process, as a runtime would; the store counts the bytes of JSON each write carries.
The first few bumps are not measured: they find the pages they need cold, which a live
article's next bump does not.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from bench.common import fold_into
from bench.keys import codec as run_codec
from bench.workload import BASE_TIME_MS, article_id, user_id
from events.catalogue import ArticleBumped, ArticlePublished
from events.log import Entry, Position
from events.routing import ROUTES, partition_for
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.processor import Projector
from projections.store import Checkpoint, DocWrite
from projections.views import VIEWS
from reducers import articles, notifications, trending
from reducers.base import DocKey

PER_ACTOR = {articles.BUMPS, notifications.ACTORS, trending.BUMPS}
"""Collections of one document per (target, actor): each bump of the build writes a new one, never read again,
so the build does not carry them from chunk to chunk."""


class CountingStore(SqliteStore):
    """The embedded store, counting the bytes of JSON of the documents it is asked to write."""

    bytes_written = 0

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        self.bytes_written += sum(len(orjson.dumps(w.body)) for w in writes)
        await super().write(writes, checkpoint)


def _carried(key: DocKey) -> bool:
    return key[0] not in PER_ACTOR


def _bump(n: int, article: str) -> ArticleBumped:
    return ArticleBumped(
        event_id=f"B{n:015d}", actor_id=user_id(n + 1), occurred_at=BASE_TIME_MS + n, article_id=article
    )


async def bump_cost(
    workdir: Path, sizes: tuple[int, ...], bumps: int = 101, warmup: int = 5
) -> list[tuple[int, float, float]]:
    """For each number of existing bumpers: (bumpers, median bytes written per bump, median seconds per bump).

    Every size's store is built first; the bumps then take turns between the sizes, so that a
    change in the machine's load weighs on all of them alike.
    """
    codec = run_codec()  # a bump has no personal field: the projectors open nothing, load no user's key
    topic = ROUTES["ArticleBumped"].topic
    stores = {size: CountingStore(workdir / f"bumps-{size}.db") for size in sizes}
    try:
        projectors: dict[int, list[Projector]] = {}
        for size, store in stores.items():
            live = await install(store, VIEWS)
            projectors[size] = [Projector(store, codec, v, live[v.name]) for v in VIEWS if topic in v.topics]
            publish = ArticlePublished(
                event_id=f"P{size:015d}",
                actor_id=user_id(0),
                occurred_at=BASE_TIME_MS - 1,
                article_id=article_id(size),
                slug=f"bumped-{size}",
                title="Bumped",
                description="d",
                body="b",
                tags=("cars", "bikes"),
            )
            for projector in projectors[size]:
                bumped = ((n + 2, _bump(n, publish.article_id)) for n in range(size))
                pairs = itertools.chain([(1, publish)], bumped)
                await fold_into(store, projector.view, projector.version, pairs, carry=_carried)
        written: dict[int, list[int]] = {size: [] for size in sizes}
        seconds: dict[int, list[float]] = {size: [] for size in sizes}
        for k in range(warmup + bumps):
            for size, store in stores.items():
                article, n = article_id(size), size + k
                position = Position(topic, partition_for(topic, article), n + 1)
                entry = Entry(position, article.encode(), codec.encode(_bump(n, article)))
                store.bytes_written = 0
                started = time.perf_counter()
                for projector in projectors[size]:
                    await projector.process([entry])
                seconds[size].append(time.perf_counter() - started)
                written[size].append(store.bytes_written)
        return [
            (size, statistics.median(written[size][warmup:]), statistics.median(seconds[size][warmup:]))
            for size in sizes
        ]
    finally:
        for store in stores.values():
            await store.close()
        await codec.close()
