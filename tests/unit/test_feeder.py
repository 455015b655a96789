"""ViewFeeder: what a stream consumer hands over, squared with the store's checkpoints (on the SQLite adapters)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from events.adapters.sqlite_log import SqliteLog
from events.log import Entry
from events.routing import ARTICLES, partitions
from projections.adapters.sqlite_store import SqliteStore
from projections.feeder import TP, FeedResult, ViewFeeder
from projections.live import install
from projections.metrics import ProjectionMetrics
from projections.processor import Projector
from projections.views import ARTICLES_VIEW
from replay.rebuild import all_docs, catch_up
from tests.integration.workload import burst
from tests.sealed import records_of_events, sealed_codec


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    codec = sealed_codec()
    await log.append(await records_of_events(codec, burst(600, seed=11, users=10, articles=8)))
    yield log
    await log.close()


async def everything(log: SqliteLog) -> list[Entry]:
    return [e for p in range(partitions(ARTICLES)) for e in await log.read(ARTICLES, p, 0, 10_000)]


async def replayed(log: SqliteLog, path: Path) -> dict[str, dict]:
    store = SqliteStore(path)
    await install(store, (ARTICLES_VIEW,))
    await catch_up(log, Projector(store, sealed_codec(), ARTICLES_VIEW))
    docs = {alias: await all_docs(store, alias) for alias in ARTICLES_VIEW.collections}
    await store.close()
    return docs


async def fed(store: SqliteStore) -> dict[str, dict]:
    return {alias: await all_docs(store, alias) for alias in ARTICLES_VIEW.collections}


async def test_redelivered_entries_are_counted_and_not_applied_again(
    log: SqliteLog, store: SqliteStore, tmp_path: Path
) -> None:
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log)
    entries = await everything(log)
    first = await feeder.feed(entries)
    assert (first.processed, first.redelivered, first.filled) == (len(entries), 0, 0)
    again = await ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log).feed(entries[: len(entries) // 2])
    assert (again.processed, again.redelivered) == (0, len(entries) // 2)
    assert await fed(store) == await replayed(log, tmp_path / "replay.db")


async def test_entries_the_consumer_skipped_are_read_from_the_log_before_and_inside_a_batch(
    log: SqliteLog, store: SqliteStore, tmp_path: Path
) -> None:
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log)
    entries = await everything(log)
    # Each partition's first 3 entries and every 5th after them never reach the feeder (its last one does).
    last = {e.position.partition: e.position.offset for e in entries}
    handed = [
        e
        for e in entries
        if (e.position.offset >= 3 and e.position.offset % 5 != 0) or e.position.offset == last[e.position.partition]
    ]
    result = await feeder.feed(handed)
    assert result.filled == len(entries) - len(handed) > 0
    assert result.processed == len(entries)
    assert await fed(store) == await replayed(log, tmp_path / "replay.db")
    checkpoint = await store.checkpoint(ARTICLES_VIEW.projection_id())
    ends = {(ARTICLES, p): await log.end_offset(ARTICLES, p) for p in range(partitions(ARTICLES))}
    assert checkpoint == {tp: end for tp, end in ends.items() if end > 0}


async def test_a_new_live_version_is_fed_from_its_own_checkpoint(
    log: SqliteLog, store: SqliteStore, tmp_path: Path
) -> None:
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log, alias_refresh=0.0)
    entries = await everything(log)
    half = [e for e in entries if e.position.offset < 20]
    rest = [e for e in entries if e.position.offset >= 20]
    await feeder.feed(half)
    # A replay builds the next version up to offset 10 of every partition and switches the aliases to it.
    following = ARTICLES_VIEW.version + 1
    rebuilt = Projector(store, sealed_codec(), ARTICLES_VIEW, following)
    await rebuilt.ensure_collections()
    await rebuilt.process([e for e in entries if e.position.offset < 10])
    await store.set_aliases(ARTICLES_VIEW.targets(following))
    result = await feeder.feed(rest)
    assert feeder.projector is not None and feeder.projector.version == following
    assert result.filled == len([e for e in entries if 10 <= e.position.offset < 20])
    assert await fed(store) == await replayed(log, tmp_path / "replay.db")
    again = await feeder.feed(rest)
    assert (again.processed, again.redelivered) == (0, len(rest))


class FenceReadHeld(SqliteStore):
    """Holds the second fingerprint claim (the fence a feeder reads once the install has made the first)
    until the test lets it go."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims = 0
        self.holding = asyncio.Event()
        self.go = asyncio.Event()

    async def claim_fingerprint(self, projection: str, fingerprint: str) -> str:
        self.claims += 1
        if self.claims == 2:
            self.holding.set()
            await self.go.wait()
        return await super().claim_fingerprint(projection, fingerprint)


async def test_a_batch_handed_over_while_the_start_reads_the_fence_waits_for_it_and_is_applied(
    log: SqliteLog, tmp_path: Path
) -> None:
    """Faust's agents feed beside the start's `prepare`: a batch that came while the live version was
    being followed was taken for fenced and dropped, and the view stayed behind on a quiet partition."""
    store = FenceReadHeld(tmp_path / "store.db")
    try:
        feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log)
        entries = await everything(log)
        starting = asyncio.create_task(feeder.prepare())
        await asyncio.wait_for(store.holding.wait(), 10)
        feeding = asyncio.create_task(feeder.feed(entries))
        await asyncio.sleep(0)  # one turn of the loop: the feed runs until it waits, or to its end
        store.go.set()
        await starting
        result = await feeding
        assert (result.processed, result.redelivered, result.filled) == (len(entries), 0, 0)
        assert await fed(store) == await replayed(log, tmp_path / "replay.db")
    finally:
        await store.close()


async def test_partitions_owed_on_assignment_are_caught_up_by_a_tick_with_nothing_delivered(
    log: SqliteLog, store: SqliteStore, tmp_path: Path
) -> None:
    """A consumer that starts where its group committed (Faust) can start past what a view stored: the tick reads it."""
    entries = await everything(log)
    half = [e for e in entries if e.position.offset < 20]
    await ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log).feed(half)
    ends = {(ARTICLES, p): await log.end_offset(ARTICLES, p) for p in range(partitions(ARTICLES))}
    registry = CollectorRegistry()
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log, metrics=ProjectionMetrics(registry))
    await feeder.prepare()
    feeder.owe({**ends, ("tribe.other", 0): 5})
    feeder.owe(dict.fromkeys(ends, 0))  # assigned again at a group's older commit: owed no less than before
    caught = await feeder.tick()
    await feeder.flush()
    assert caught.processed == len(entries) - len(half)
    # Counted as a batch is: what a tick catches up (or parks) moves the view's metrics too.
    assert registry.get_sample_value("tribe_projection_events_total", {"view": ARTICLES_VIEW.name}) == caught.processed
    assert await store.checkpoint(ARTICLES_VIEW.projection_id()) == {tp: end for tp, end in ends.items() if end}
    assert await fed(store) == await replayed(log, tmp_path / "replay.db")
    assert (await feeder.tick()).processed == 0


async def test_a_wide_gap_is_filled_fill_batch_entries_a_partition_at_a_time_by_the_batch_and_then_the_tick(
    log: SqliteLog, store: SqliteStore, tmp_path: Path
) -> None:
    """A view far behind (it sat out a backoff on a busy topic, or its group committed past it) is caught up
    from the log in batches of at most `fill_batch` entries a partition: never read into memory at once."""
    entries = await everything(log)
    ends = {(ARTICLES, p): await log.end_offset(ARTICLES, p) for p in range(partitions(ARTICLES))}
    fill = 5
    feeder = ViewFeeder(ARTICLES_VIEW, store, sealed_codec(), log, fill_batch=fill)
    offered: list[dict[TP, int]] = []
    offer = feeder.offer

    async def counted(batch: Sequence[Entry]) -> FeedResult:
        offered.append(Counter((e.position.topic, e.position.partition) for e in batch))
        return await offer(batch)

    feeder.offer = counted  # type: ignore[method-assign]
    last = [e for e in entries if e.position.offset == ends[(ARTICLES, e.position.partition)] - 1]
    first = await feeder.feed(last)
    await feeder.flush()
    gaps = [tp for tp, end in ends.items() if end - 1 > fill]
    assert gaps, "the workload leaves no partition wider than the fill batch"
    assert first.filled == sum(min(end - 1, fill) for end in ends.values() if end)
    assert first.processed == first.filled + len(last) - len(gaps)  # a wide gap's own entry waits for the tick
    caught = await feeder.tick()
    await feeder.flush()
    assert first.processed + caught.processed == len(entries)
    assert len(offered) > 1 and all(n <= fill for batch in offered for n in batch.values())
    assert await store.checkpoint(ARTICLES_VIEW.projection_id()) == {tp: end for tp, end in ends.items() if end}
    assert await fed(store) == await replayed(log, tmp_path / "replay.db")
    assert (await feeder.tick()).processed == 0
