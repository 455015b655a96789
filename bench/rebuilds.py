"""Figures 3 and 6: replay (a view rebuilt from the log) and how its cost grows; publish cost (fan-out included)."""

from __future__ import annotations

import functools
import itertools
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import in_turns
from bench.keys import codec as run_codec
from bench.keys import keyed, load_keys
from bench.workload import BASE_TIME_MS, Shape, events, fill, publication, records, user_id
from events.catalogue import ArticleDeleted, UserFollowed
from events.log import Entry, Log, Position
from projections.processor import Projector
from projections.store import Checkpoint, DocWrite, Store
from reducers.base import State, fold
from reducers.follows import FOLLOWER_COUNTS

if TYPE_CHECKING:
    from projections.queries import SocialReads

# Article traffic only (and the registrations of its users): the articles view reads all of it.
REPLAY_SHAPE = Shape(follows_per_user=0)
FOLLOW_CHUNK = 20_000
STATS_READS = 20
"""How many times the publish-cost figure reads each author's stats in a round, every author in turn."""
STATS_ROUNDS = 20


async def fill_log(log_db: Path, n: int) -> dict[str, int]:
    from events.adapters.sqlite_log import SqliteLog

    log, codec = SqliteLog(log_db), run_codec()
    try:
        return await fill(log, codec, events(n, REPLAY_SHAPE, seed=3), batch=10_000)
    finally:
        await log.close()
        await codec.close()


async def rebuild_articles(log_db: Path, store_db: Path, jobs: int = 1) -> tuple[int, float]:
    """`tribe replay articles [--jobs N]` in-process: build the next version from offset 0 into the embedded store.

    This process loads the keys of the whole log before the rebuild is timed (its baseline reads no key
    store); the helper processes of `--jobs` are `tribe replay`'s own, and load theirs as they go.
    """
    from events.adapters.sqlite_log import SqliteLog
    from projections.adapters.sqlite_store import SqliteStore
    from projections.live import install
    from projections.views import VIEWS
    from replay.parallel import process_helpers
    from replay.rebuild import rebuild
    from tribe.bootstrap import helper_adapters
    from tribe.settings import Settings

    view = next(v for v in VIEWS if v.name == "articles")
    log, store, codec = SqliteLog(log_db), SqliteStore(store_db), run_codec()
    settings = keyed(Settings(log_url=f"sqlite:///{log_db}", store_url=f"sqlite:///{store_db}"))
    try:
        await install(store, (view,))
        await load_keys(codec, log, view.topics)
        with process_helpers(functools.partial(helper_adapters, settings), jobs) as helpers:
            result = await rebuild(log, store, codec, view, switch=True, helpers=helpers)
        return result.events, result.seconds
    finally:
        await log.close()
        await store.close()
        await codec.close()


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): 1 is linear."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-9)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else math.nan


@dataclass(frozen=True, slots=True)
class Published:
    followers: int
    writes: float
    """Mean per publish: events appended to the log (the publication and the fan-out's) and documents stored."""
    seconds: float
    """Median per publish: the append, its projection, the fan-out's decision and the documents it files."""
    stats_seconds: float
    """Median of one read of the author's stats (SocialReads.stats: their followers among them)."""


async def publish_cost(
    workdir: Path, followers: tuple[int, ...], threshold: int, publishes: int = 50
) -> list[Published]:
    """For each follower count, what one publication of an author with that many followers costs, the fan-out's
    work included, and a read of their stats.

    There is an author for each count, who gains that many followers, one count after another:
    their follow documents are folded by the follows view's reducer and written to the store
    directly (projecting 10^6 follows through the runtime, and the fan-out's backfill of each,
    would cost minutes and measure nothing of a publication). Then the author publishes
    `publishes` articles, and each one is timed from its append to the log: projected alone
    through every view that reads its topic (Projector.process, whose BatchResult.writes counts
    the documents), decided by the fan-out (services/fanout.py, with `threshold`), the events it
    decides appended and projected the same way: below the threshold an ArticleDelivered per
    `FanOutPolicy.batch` followers and a timeline document per follower; from it an
    AudienceOutgrown once, then nothing per follower. The runner's own work per batch (reading its
    checkpoint, waiting for the views) is left out: it is shared by the up to 500 events of a
    batch. Each publication is deleted once timed, untimed.

    Then every author's stats are read, `STATS_READS` times each in turn, `STATS_ROUNDS` times
    (the first round untimed): the machine this runs on slows by half for seconds at a time, and
    taking turns gives every size the same moments. Their follower count sums the counters the
    follows reducer keeps; their articles and bumps received are counted over their live articles
    (SocialReads.stats), which the deletions keep at none, as many for every size.
    """
    from events.adapters.sqlite_log import SqliteLog
    from projections.adapters.sqlite_store import SqliteStore
    from projections.live import install
    from projections.processor import Projector
    from projections.queries import SocialReads
    from projections.timeline_queries import TimelineReads
    from projections.views import FOLLOWS_VIEW, VIEWS
    from services.fanout import FanOut, FanOutPolicy

    log, store = SqliteLog(workdir / "publish-log.db"), SqliteStore(workdir / "publish-store.db")
    codec = run_codec()
    authors = [user_id(i) for i in range(len(followers))]
    try:
        live = await install(store, VIEWS)
        projectors = [Projector(store, codec, v, live[v.name]) for v in VIEWS]
        fanout = FanOut(TimelineReads(store), FanOutPolicy(threshold))
        follows = next(p for p in projectors if p.view is FOLLOWS_VIEW)
        # The authors register: their keys made and loaded here, before any publish is timed.
        registered = await records(codec, list(events(len(authors), Shape(initial_users=len(authors)), seed=5)))
        await _project(log, projectors, await log.append(registered))
        costs: list[tuple[float, float]] = []
        first_follower = len(authors)
        n = 0
        for author, count in zip(authors, followers):
            await _follow(store, follows, author, first_follower, count)
            first_follower += count
            writes = 0
            per_publish: list[float] = []
            for _ in range(publishes):
                a = 10_000_000 + n
                n += 1
                event = publication(a, author, 1_700_100_000_000 + a)
                started = time.perf_counter()
                positions = await log.append(await records(codec, [event]))
                writes += len(positions) + await _project(log, projectors, positions)
                decided = await fanout.react(event)
                if decided:
                    positions = await log.append(await records(codec, decided))
                    writes += len(positions) + await _project(log, projectors, positions)
                per_publish.append(time.perf_counter() - started)
                withdrawn = ArticleDeleted(
                    event_id=f"D{a:015d}",
                    actor_id=author,
                    occurred_at=event.occurred_at + 1,
                    article_id=event.article_id,
                )
                await _project(log, projectors, await log.append(await records(codec, [withdrawn])))
            costs.append((writes / publishes, statistics.median(per_publish)))
        stats = await _stats_reads(SocialReads(store), authors, followers)
        return [
            Published(count, writes, seconds, statistics.median(read))
            for count, (writes, seconds), read in zip(followers, costs, stats)
        ]
    finally:
        await log.close()
        await store.close()
        await codec.close()


async def _stats_reads(reads: SocialReads, authors: list[str], followers: tuple[int, ...]) -> list[list[float]]:
    """The seconds each author's stats took to read, in turns (publish_cost); checks what each read counts."""

    async def read(author: str, count: int) -> list[float]:
        timed = []
        for _ in range(STATS_READS):
            started = time.perf_counter()
            counted = await reads.stats(author)
            timed.append(time.perf_counter() - started)
            if counted["followers"] != count or counted["articles"]:
                raise RuntimeError(f"{counted} read, {count:,} followers and no live article expected")
        return timed

    measures = [functools.partial(read, author, count) for author, count in zip(authors, followers)]
    rounds = await in_turns(measures, STATS_ROUNDS, warmup=1)
    return [list(itertools.chain.from_iterable(measured)) for measured in rounds]


async def _follow(store: Store, follows: Projector, author: str, first: int, count: int) -> None:
    """`count` users from user `first` on follow the author: their documents folded by the view's reducer and
    written (the author's follower counters carried from chunk to chunk, the others each follower's own)."""
    physical = follows.view.targets(follows.version)
    counters: State = {}
    for low in range(first, first + count, FOLLOW_CHUNK):
        pairs = [
            (
                i + 1,
                UserFollowed(
                    event_id=f"F{i:015d}", actor_id=user_id(i), occurred_at=BASE_TIME_MS + i, followee_id=author
                ),
            )
            for i in range(low, min(first + count, low + FOLLOW_CHUNK))
        ]
        changed = fold(follows.view.reducer, counters, pairs)
        writes = [DocWrite(physical[c], doc_id, v.version, v.body) for (c, doc_id), v in changed.items()]
        await store.write(writes, Checkpoint(follows.projection_id, {}))
        counters.update((key, v) for key, v in changed.items() if key[0] == FOLLOWER_COUNTS)


async def _project(log: Log, projectors: list[Projector], positions: Sequence[Position]) -> int:
    """Read these appended events back and project them through every view of their topics; the documents written."""
    spans: dict[tuple[str, int], list[int]] = {}
    for p in positions:
        spans.setdefault((p.topic, p.partition), []).append(p.offset)
    entries: list[Entry] = []
    for (topic, partition), offsets in spans.items():
        entries += await log.read(topic, partition, min(offsets), max(offsets) - min(offsets) + 1)
    writes = 0
    for projector in projectors:
        mine = [e for e in entries if e.position.topic in projector.view.topics]
        if mine:
            writes += (await projector.process(mine)).writes
    return writes
