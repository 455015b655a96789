"""The embedded runtime on real SQLite files: the log, the store, and the reducers between them."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from events import log as log_port
from events.adapters.sqlite_log import SqliteLog
from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
    UserFollowed,
    UserRegistered,
)
from events.log import Position, Record
from events.routing import ROUTES, partition_for
from projections.adapters.sqlite_store import OtherLayout, SqliteStore, reset_layout
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.processor import Projector
from projections.progress import Progress
from projections.store import Checkpoint, DocWrite, Query
from projections.views import ARTICLES_VIEW, VIEWS
from tests.sealed import sealed_codec

CODEC = sealed_codec()
Snapshot = dict[str, dict[str, tuple[int, dict[str, Any]]]]


def _record(event: Event) -> Record:
    route = ROUTES[event.type]
    key = route.key(event)
    return Record(route.topic, partition_for(route.topic, key), key.encode(), CODEC.encode(event), event.event_id)


def _events() -> list[Event]:
    n = iter(range(1, 1000))

    def meta(actor: str) -> dict[str, Any]:
        i = next(n)
        return {"event_id": f"evt-{i:04d}", "actor_id": actor, "occurred_at": 1_700_000_000_000 + i}

    article = {"slug": "s", "title": "t", "description": "d", "body": "b"}
    return [
        UserRegistered(**meta("u1"), username="alice", email="alice@x.io", password_hash="h"),
        UserRegistered(**meta("u2"), username="bob", email="bob@x.io", password_hash="h"),
        UserRegistered(**meta("u3"), username="ALICE", email="other@x.io", password_hash="h"),
        UserFollowed(**meta("u2"), followee_id="u1"),
        ArticlePublished(**meta("u1"), article_id="a1", tags=("py", "go"), **article),
        ArticlePublished(**meta("u1"), article_id="a2", **article),
        ArticleBumped(**meta("u2"), article_id="a1"),
        ArticleViewed(**meta("u2"), article_id="a1"),
        ArticleViewed(**meta("u3"), article_id="a1", referrer="feed"),
        CommentPosted(**meta("u2"), article_id="a1", comment_id=11, body="hi"),
        CommentPosted(**meta("u2"), article_id="a2", comment_id=21, body="hey"),
        CommentDeleted(**meta("u2"), article_id="a2", comment_id=21),
    ]


class Files:
    """The log and the store of one embedded deployment, opened and closed like a process would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log: SqliteLog
        self.store: SqliteStore

    async def open(self, store: SqliteStore | None = None) -> Files:
        self.log = SqliteLog(self.root / "log.sqlite")
        self.store = store or SqliteStore(self.root / "store.sqlite")
        await install(self.store, VIEWS)
        return self

    async def close(self) -> None:
        await self.log.close()
        await self.store.close()

    def runtime(self, **kwargs: Any) -> EmbeddedRuntime:
        return EmbeddedRuntime(self.log, self.store, CODEC, VIEWS, **kwargs)

    async def append(self, events: Sequence[Event]) -> list[Position]:
        await CODEC.prepare(events)
        return await self.log.append([_record(e) for e in events])

    async def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for view in VIEWS:
            for alias in view.collections:
                page = await self.store.search(alias, Query(size=10_000))
                out[alias] = {d.id: (d.version, d.body) for d in page.docs}
        return out

    async def checkpoints(self) -> dict[str, dict[tuple[str, int], int]]:
        return {view.name: await self.store.checkpoint(view.projection_id()) for view in VIEWS}


@pytest.fixture
async def files(tmp_path: Path):
    opened = await Files(tmp_path).open()
    yield opened
    await opened.close()


def _read_by_views(events: Sequence[Event]) -> int:
    """How many (view, event) pairs run_once should process: each view reads every event of its topics."""
    return sum(1 for view in VIEWS for e in events if ROUTES[e.type].topic in view.topics)


async def test_run_once_projects_what_was_appended(files: Files) -> None:
    events = _events()
    positions = await files.append(events)
    assert await files.runtime().run_once() == _read_by_views(events)

    users = await files.store.get("users", ["u1", "u2", "u3"])
    assert sorted(users) == ["u1", "u2"], "u3 asked for ALICE, which alice already holds"
    follows = await files.store.get("follows", ["u2:u1"])
    assert follows["u2:u1"].body["active"] is True

    articles = await files.store.get("articles", ["a1", "a2"])
    a1, a2 = articles["a1"].body, articles["a2"].body
    assert (a1["latest_bumpers"], a1["favorites_count"], a1["views"], a1["tags"]) == (["u2"], 1, 2, ["go", "py"])
    assert a1["comments_count"] == 1
    assert a2["comments_count"] == 0
    comments = await files.store.get("comments", ["a1:11", "a2:21"])
    assert (comments["a1:11"].body["deleted"], comments["a2:21"].body["deleted"]) == (False, True)

    # A document's version is the position (offset + 1) of the last event applied to it.
    last_a1 = max(p.offset for p, e in zip(positions, events) if getattr(e, "article_id", None) == "a1")
    assert articles["a1"].version == last_a1 + 1
    assert users["u1"].version == positions[0].offset + 1

    # Each view's checkpoint is the end of every partition of its topics that holds events.
    for view in VIEWS:
        expected = {}
        for p in positions:
            if p.topic in view.topics:
                expected[(p.topic, p.partition)] = max(expected.get((p.topic, p.partition), 0), p.offset + 1)
        assert {tp: o for tp, o in (await files.checkpoints())[view.name].items() if o} == expected


async def test_nothing_is_applied_twice_or_skipped_across_a_restart(tmp_path: Path) -> None:
    files = await Files(tmp_path).open()
    events = _events()
    await files.append(events)
    await files.runtime().run_once()
    docs, checkpoints = await files.snapshot(), await files.checkpoints()
    await files.close()

    files = await Files(tmp_path).open()
    try:
        runtime = files.runtime()
        assert await runtime.run_once() == 0
        assert await files.snapshot() == docs
        assert await files.checkpoints() == checkpoints

        more = [ArticleViewed(event_id="evt-late", actor_id="u2", occurred_at=1_800_000_000_000, article_id="a1")]
        (position,) = await files.append(more)
        assert await runtime.run_once() == _read_by_views(more)
        a1 = (await files.store.get("articles", ["a1"]))["a1"]
        assert (a1.body["views"], a1.version) == (3, position.offset + 1)
    finally:
        await files.close()

    files = await Files(tmp_path).open()
    try:
        assert await files.runtime().run_once() == 0
        assert (await files.store.get("articles", ["a1"]))["a1"].body["views"] == 3
    finally:
        await files.close()


async def test_events_appended_before_a_crash_are_projected_after_it(tmp_path: Path) -> None:
    files = await Files(tmp_path).open()
    events = _events()
    await files.append(events)
    await files.close()  # the process dies before the runtime ran

    files = await Files(tmp_path).open()
    try:
        assert await files.store.get("articles", ["a1"]) == {}
        assert await files.runtime().run_once() == _read_by_views(events)
        assert (await files.store.get("articles", ["a1"]))["a1"].body["views"] == 2
    finally:
        await files.close()


class StoreThatDiesAfter(SqliteStore):
    """Our SQLite store, failing every write after the first `writes` succeeded (a process dying mid-run)."""

    def __init__(self, path: Path, writes: int) -> None:
        super().__init__(path)
        self.left = writes

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if self.left == 0:
            raise RuntimeError("killed")
        self.left -= 1
        await super().write(writes, checkpoint)


@pytest.mark.parametrize("writes_before_crash", [0, 1, 3, 5])
async def test_a_crash_between_batches_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, writes_before_crash: int
) -> None:
    events = _events() + [
        ArticleViewed(event_id=f"evt-view-{i}", actor_id="u2", occurred_at=1_800_000_000_000 + i, article_id="a1")
        for i in range(7)
    ]
    reference = await Files(tmp_path / "reference").open()
    await reference.append(events)
    await reference.runtime(batch_size=2).run_once()
    expected = await reference.snapshot()
    await reference.close()

    crashing = Files(tmp_path / "crashing")
    await crashing.open(StoreThatDiesAfter(tmp_path / "crashing" / "store.sqlite", writes_before_crash))
    await crashing.append(events)
    await crashing.runtime(batch_size=2).run_once()  # every view's write fails from the crash on; none raises
    await crashing.close()

    files = await Files(tmp_path / "crashing").open()
    try:
        await files.runtime(batch_size=2).run_once()
        assert await files.snapshot() == expected
        assert (await files.store.get("articles", ["a1"]))["a1"].body["views"] == 9
    finally:
        await files.close()


class StoreThatFailsOnce(SqliteStore):
    """Our SQLite store, whose write number `failing` fails (a full disk, say) while the process lives on."""

    def __init__(self, path: Path, failing: int) -> None:
        super().__init__(path)
        self.calls = 0
        self.failing = failing

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        self.calls += 1
        if self.calls == self.failing:
            raise OSError("disk full")
        await super().write(writes, checkpoint)


@pytest.mark.parametrize("woken", [False, True], ids=["polling", "woken"])
@pytest.mark.parametrize("failing", [1, 4, 9])
async def test_a_failed_write_in_a_running_runtime_resumes_from_the_checkpoint(
    tmp_path: Path, failing: int, woken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are pipelined: the failed batch's successor was folded on top of it, in memory.

    Woken by the log, with no append to come, the runtime still retries after the backoff, at its
    idle poll: it waits for the log's wake-up up to WOKEN_POLL only while no view is retrying.
    """
    monkeypatch.setattr(log_port, "WOKEN_POLL", 60.0)
    events = _events() + [
        ArticleViewed(event_id=f"evt-view-{i}", actor_id="u2", occurred_at=1_800_000_000_000 + i, article_id="a1")
        for i in range(7)
    ]
    reference = await Files(tmp_path / "reference").open()
    await reference.append(events)
    await reference.runtime().run_once()
    expected = await reference.snapshot()
    await reference.close()

    files = await Files(tmp_path / "failing").open(StoreThatFailsOnce(tmp_path / "failing" / "store.sqlite", failing))
    positions = await files.append(events)
    runtime = files.runtime(batch_size=2, idle_poll=0.01, wakeup=files.log.watch() if woken else None)
    task = asyncio.create_task(runtime.run())
    try:
        assert await Progress(files.store, VIEWS, poll=0.01).wait(positions, timeout=10)
        assert files.store.calls > failing
        assert await files.snapshot() == expected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await files.close()


async def test_progress_waits_for_the_runtime_and_times_out_without_it(files: Files) -> None:
    runtime = files.runtime(wakeup=files.log.watch(), idle_poll=0.02)
    progress = Progress(files.store, VIEWS, advanced=lambda: runtime.advanced)
    positions = await files.append(_events())

    started = time.monotonic()
    assert await progress.wait(positions, timeout=0.2) is False
    assert time.monotonic() - started >= 0.2

    task = asyncio.create_task(runtime.run())
    try:
        assert await progress.wait(positions, timeout=10) is True
        # A position the log has given out and the runtime has not yet projected is not reached.
        later = Position(positions[-1].topic, positions[-1].partition, positions[-1].offset + 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await progress.wait([later], timeout=0.1) is False
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_progress_by_polling_sees_what_run_once_checkpointed(files: Files) -> None:
    progress = Progress(files.store, VIEWS, poll=0.01)
    positions = await files.append(_events())
    assert await progress.wait(positions, timeout=0.05) is False
    await files.runtime().run_once()
    assert await progress.wait(positions, timeout=0.05) is True
    # Each position alone is reached too, whichever view reads it.
    for p in positions:
        assert progress.covered([p])


async def test_the_same_entries_processed_twice_change_nothing(files: Files) -> None:
    positions = await files.append(_events())
    projector = Projector(files.store, CODEC, ARTICLES_VIEW)
    (topic,) = ARTICLES_VIEW.topics
    partitions = sorted({p.partition for p in positions if p.topic == topic})

    first = [await projector.process(await files.log.read(topic, p, 0, 1000)) for p in partitions]
    assert sum(r.writes for r in first) > 0
    docs = await files.snapshot()

    for p in partitions:
        entries = await files.log.read(topic, p, 0, 1000)
        assert (await projector.process(entries)).writes == 0
        assert (await projector.process(entries[:1])).writes == 0  # an older prefix, redelivered late
    assert await files.snapshot() == docs
    checkpoint = await files.store.checkpoint(ARTICLES_VIEW.projection_id())
    assert {tp: o for tp, o in checkpoint.items() if tp[0] == topic} == {
        (topic, p): max(q.offset for q in positions if (q.topic, q.partition) == (topic, p)) + 1 for p in partitions
    }


async def test_a_store_of_an_older_layout_is_refused_then_rebuilt_from_the_log_when_asked(files: Files) -> None:
    """Opening never drops anything: an older layout is refused untouched, and emptied only by reset_layout."""
    await files.append(_events())
    while await files.runtime().run_once():
        pass
    expected = await files.snapshot()
    await files.store.close()
    path = files.root / "store.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=0")  # the first layout, before stored columns
    conn.close()

    with pytest.raises(OtherLayout):
        SqliteStore(path)
    assert reset_layout(path) == 0
    files.store = SqliteStore(path)
    assert await files.store.collections() == [] and await files.store.aliases() == {}
    await install(files.store, VIEWS)
    assert await files.checkpoints() == {view.name: {} for view in VIEWS}
    while await files.runtime().run_once():
        pass
    assert await files.snapshot() == expected


class CountingStore(SqliteStore):
    """Counts checkpoint reads."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.checkpoint_reads = 0

    async def checkpoint(self, projection: str) -> dict[tuple[str, int], int]:
        self.checkpoint_reads += 1
        return await super().checkpoint(projection)


@pytest.mark.parametrize("waiters", [1, 50])
async def test_waiting_requests_share_one_checkpoint_watcher(tmp_path: Path, waiters: int) -> None:
    """Fifty readers waiting for a position cost the store what one does: one read per view and round."""
    files = await Files(tmp_path).open(CountingStore(tmp_path / "store.sqlite"))
    try:
        positions = await files.append(_events())  # never projected: every waiter waits the whole time
        progress = Progress(files.store, VIEWS, poll=0.05)
        results = await asyncio.gather(*(progress.wait(positions, timeout=0.5) for _ in range(waiters)))
        assert results == [False] * waiters
        rounds = files.store.checkpoint_reads / len(VIEWS)
        assert rounds <= 0.5 / 0.05 + 2, f"{rounds} rounds of checkpoint reads for {waiters} waiters"
        await progress.close()
    finally:
        await files.close()


async def test_a_live_version_an_older_release_made_gets_the_range_and_covering_indexes_of_this_code_once_fed(
    tmp_path: Path,
) -> None:
    """A range or covering index (CollectionSpec.compound) changes no document, so a release that adds one
    feeds the version an older release built, and makes the index for it: an outlier's feed stops sorting
    everything they wrote, and a user's stats stop reading every article they wrote."""
    store, log = SqliteStore(tmp_path / "store.sqlite"), SqliteLog(tmp_path / "log.sqlite")
    older = tuple(
        dataclasses.replace(
            v, collections={name: dataclasses.replace(s, compound=frozenset()) for name, s in v.collections.items()}
        )
        for v in VIEWS
    )
    await install(store, older)
    articles = ARTICLES_VIEW.physical("articles")
    indexes = (f"r_{articles}_author_id_created_at", f"r_{articles}_author_id_deleted_favorites_count")

    def indexed() -> bool:
        made = store._write_conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        return set(indexes) <= {name for (name,) in made}

    try:
        assert not indexed()
        events = _events()
        await CODEC.prepare(events)
        await log.append([_record(e) for e in events])
        await EmbeddedRuntime(log, store, CODEC, VIEWS).run_once()
        assert indexed()
        assert sorted(await store.get("articles", ["a1", "a2"])) == ["a1", "a2"]
    finally:
        await log.close()
        await store.close()
