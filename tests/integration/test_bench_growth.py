"""The growth benchmarks measure what they say, at tiny sizes (bench/feeds.py, bench/rebuilds.py, bench/tags.py,
bench/store_reads.py).

No time is asserted here (times are `python -m bench`'s): these check the counts and the data the
figures are taken on.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from bench.common import prepare_embedded, site_events
from bench.feeds import blocked_reads, feed_reads, outlier_reads
from bench.reads import READS_SHAPE
from bench.rebuilds import publish_cost
from bench.store_reads import doc_id, get_cost
from bench.tags import READS, tags_cost
from events.adapters.sqlite_log import SqliteLog
from projections.adapters.sqlite_store import SqliteStore
from projections.queries import ReadModels
from services.fanout_runner import CHECKPOINT, fanout_partitions


async def test_a_publish_writes_a_timeline_document_per_follower_below_the_threshold_and_none_from_it(
    tmp_path: Path,
) -> None:
    costs = await publish_cost(tmp_path, (3, 5, 8, 20), threshold=5, publishes=4)

    below, at, pulled, more_pulled = costs
    assert [c.followers for c in costs] == [3, 5, 8, 20]
    # Each count has its author. Below the threshold: one delivery event and a timeline document for each of the
    # 3 followers. From it on: the author is marked once (the event and its document) over their 4 publishes,
    # and a publish writes the same whatever the followers.
    assert below.writes - at.writes == 1 + 3 - 2 / 4
    assert at.writes == pulled.writes == more_pulled.writes


async def test_the_feed_figure_reads_timelines_the_fan_out_filed(tmp_path: Path) -> None:
    # feed_reads raises if a size's first hybrid page is not the page assembled from every followee.
    reads = await feed_reads(tmp_path, (1, 8), reads=2, assembled_reads=1, warmup=1)

    assert [r.followees for r in reads] == [1, 8]


async def test_the_blocked_feed_figure_reads_a_site_where_every_block_is_projected(tmp_path: Path) -> None:
    # blocked_reads raises unless every block is in the blocks view and the page shows the authors' articles.
    reads = await blocked_reads(tmp_path, (1, 12), reads=2, warmup=1)

    assert [r.blockers for r in reads] == [1, 12]


async def test_the_outlier_feed_figure_pulls_the_newest_articles_of_an_outlier(tmp_path: Path) -> None:
    # outlier_reads raises unless the author is an outlier and the page is their newest articles.
    reads = await outlier_reads(tmp_path, (3, 30), reads=2, warmup=1)

    assert [r.articles for r in reads] == [3, 30]


async def test_the_reads_site_is_decided_by_the_fan_out_before_the_server_starts(tmp_path: Path) -> None:
    events, _ = site_events(1_500, READS_SHAPE)

    await prepare_embedded(tmp_path, events)

    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        heads = await log.end_offsets(fanout_partitions())
        decided = await store.checkpoint(CHECKPOINT)
        assert any(heads.values())
        assert all(decided.get(tp, 0) == head for tp, head in heads.items())
    finally:
        await log.close()
        await store.close()


async def test_the_tag_list_figure_counts_the_aggregations_its_reads_run_after_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read follows a write, so a list kept only until the next write is computed by every read."""
    costs = await tags_cost(tmp_path, (10, 30), repeats=1)
    assert [(articles, runs) for articles, _, runs in costs] == [(10, 1), (30, 1)]

    async def until_written(self: ReadModels, limit: int = 100, *, fresh: bool = False) -> list[str]:
        return list(await self.store.unless_written(f"tags:{limit}", partial(self._tags_of, limit)))

    monkeypatch.setattr(ReadModels, "tags", until_written)
    costs = await tags_cost(tmp_path, (10,), repeats=1)
    assert [(articles, runs) for articles, _, runs in costs] == [(10, READS)]


async def test_the_store_get_figure_finds_every_document_it_asks_for(tmp_path: Path) -> None:
    costs = await get_cost(tmp_path, (30, 300), gets=50)
    assert [documents for documents, _ in costs] == [30, 300]
    assert all(seconds > 0 for _, seconds in costs)
    store = SqliteStore(tmp_path / "gets-300.db")
    try:
        found = await store.get("cards", [doc_id(0), doc_id(299), doc_id(300)])
        assert sorted(found) == [doc_id(0), doc_id(299)], "every document written, and only those"
    finally:
        await store.close()
