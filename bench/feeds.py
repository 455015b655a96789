"""Growth figures: one reader's feed as the number of authors they follow grows from 10 to 10,000, and as
the number of users who block them grows over the same sizes.

For each size, an embedded log and store of their own: the reader and N authors register, the
reader follows every author, then each author publishes 3 articles. The embedded runtime and
the fan-out's runner (tribe/bootstrap.py's `fanout_runner`, over every partition) take turns
until both have nothing left, as `tribe serve` runs them: the fan-out delivers each article to
the reader's timeline. The follows are old (2023), so the read pulls no recent follow: this is
a reader's steady state, not the minutes after they followed someone.

The read is `services.feeds.feed` in process, through Ports built by `tribe.bootstrap.build_ports`
over the store: the cost of the read itself, without HTTP or a load generator around it.
Requests are sequential and take turns between the sizes, so that a change in the machine's
load weighs on all of them alike. The same rounds time the feed as it was read before the
hybrid feed (every followee listed, every article filtered by them: `assembled`), on the same
store; its first page must be the hybrid's, which checks that the fan-out filed every timeline.

The blocked reader follows BLOCKED_FOLLOWEES authors, and N other users block them: a feed read
looks blocks up for the authors of its page, so it must cost what it costs at 10 blockers. The
site is built and read the same way; every block must be in the blocks view, and the page must
hold every article of the authors followed (a block the other way hides nothing of theirs).

The outlier's reader follows one author who has outgrown the fan-out (a threshold of one
follower), so the feed pulls that author's articles, and the author has written N of them: a
read takes the page from a range of the articles' (author, created_at) index, so it must cost
what it costs at 10 articles. The page must be the author's PAGE newest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import embedded_settings, settle
from bench.keys import codec as run_codec
from bench.load import percentiles
from bench.workload import BASE_TIME_MS, PASSWORD_HASH, fill, publication, user_id
from events.adapters.sqlite_log import SqliteLog
from events.catalogue import Event, UserBlocked, UserFollowed, UserRegistered
from events.codec import EventCodec
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.progress import Progress
from projections.views import VIEWS
from services.articles import paging
from services.feeds import feed
from services.ports import Ports
from services.views import ArticlePage, article_views
from tribe.bootstrap import build_ports, fanout_runner

ARTICLES_EACH = 3
PAGE = 20
READER = user_id(0)
READS = 1_000
"""Timed reads of each site's first page: a p99 over them is their tenth slowest, where over 200 it was the
second slowest, and one pause of the machine moved a ratio past its target."""
BLOCKED_FOLLOWEES = 10
"""How many authors the blocked reader follows (the feed's size at 10 followees)."""


@dataclass(frozen=True, slots=True)
class FeedReads:
    followees: int
    p50_ms: float
    p99_ms: float
    """Per read of the hybrid feed."""
    assembled_p50_ms: float
    """Per read of the feed assembled at read time, as it was before the hybrid feed."""


@dataclass(frozen=True, slots=True)
class BlockedReads:
    blockers: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class OutlierReads:
    articles: int
    p50_ms: float
    p99_ms: float


async def assembled(ports: Ports, reader: str, limit: int, offset: int) -> ArticlePage:
    """The feed before the hybrid (services/articles.py at 35adfee): the articles of all the reader's followees."""
    paging(limit, offset)
    hidden = {*await ports.social.blocked_by(reader), *await ports.social.blockers_of(reader)}
    followees = [f for f in await ports.reads.followees(reader) if f not in hidden]
    docs, total = await ports.reads.articles(author_ids=followees, limit=limit, offset=offset)
    return ArticlePage(await article_views(ports, docs, reader, followed=set(followees)), total)


def _site(followees: int, blockers: int = 0) -> tuple[list[Event], list[Event]]:
    """The registrations, the reader's follows and the blocks of the reader by the users after the authors;
    then the authors' articles, newest last."""
    t = BASE_TIME_MS

    def registered(n: int) -> UserRegistered:
        return UserRegistered(
            event_id=f"R{n:015d}",
            actor_id=user_id(n),
            occurred_at=t + n,
            username=f"user{n}",
            email=f"user{n}@bench.example",
            password_hash=PASSWORD_HASH,
        )

    people: list[Event] = [registered(n) for n in range(followees + blockers + 1)]
    people += [
        UserFollowed(event_id=f"F{n:015d}", actor_id=READER, occurred_at=t + followees + n, followee_id=user_id(n))
        for n in range(1, followees + 1)
    ]
    people += [
        UserBlocked(event_id=f"K{n:015d}", actor_id=user_id(n), occurred_at=t + followees + n, blocked_id=READER)
        for n in range(followees + 1, followees + blockers + 1)
    ]
    articles: list[Event] = []
    for k in range(ARTICLES_EACH):
        for n in range(1, followees + 1):
            a = k * followees + n
            articles.append(publication(a, user_id(n), t + 3 * followees + a))
    return people, articles


def _outlier_site(articles: int) -> tuple[list[Event], list[Event]]:
    """The reader and one author, the reader's follow of them; then the author's articles, newest last."""
    t = BASE_TIME_MS
    people, _ = _site(1)
    return people, [publication(a, user_id(1), t + 10 + a) for a in range(1, articles + 1)]


Built = tuple[Ports, SqliteLog, SqliteStore, EventCodec]


async def _build(workdir: Path, stages: tuple[list[Event], list[Event]], *, threshold: int | None = None) -> Built:
    """A site from its stages, its timelines filed by the fan-out (of `threshold`, when given); the ports a
    server would read it with."""
    settings = embedded_settings(workdir)
    if threshold is not None:
        settings = dataclasses.replace(settings, fanout_threshold=threshold)
    log, store, codec = SqliteLog(workdir / "log.db"), SqliteStore(workdir / "store.db"), run_codec()
    await install(store, VIEWS)
    runtime = EmbeddedRuntime(log, store, codec, VIEWS)
    runner = fanout_runner(settings, log, store, codec)
    for stage in stages:
        await fill(log, codec, iter(stage), batch=10_000)
        await settle(runtime, runner)
    await runner.progress.close()
    return build_ports(settings, log, store, codec, Progress(store, VIEWS)), log, store, codec


Read = Callable[[Ports, str, int, int], Awaitable[ArticlePage]]


async def _timed(read: Read, built: dict[int, Built], rounds: int, warmup: int) -> dict[int, dict[str, float]]:
    """The percentiles of `rounds` reads of each site's first page, taking turns between the sites, after `warmup`."""
    times: dict[int, list[float]] = {size: [] for size in built}
    for _ in range(warmup + rounds):
        for size, (ports, *_) in built.items():
            started = time.perf_counter()
            await read(ports, READER, PAGE, 0)
            times[size].append(time.perf_counter() - started)
    return {size: percentiles(samples[warmup:]) for size, samples in times.items()}


@asynccontextmanager
async def _sites(
    workdir: Path,
    name: str,
    sizes: tuple[int, ...],
    stages: Callable[[int], tuple[list[Event], list[Event]]],
    threshold: int | None = None,
) -> AsyncIterator[dict[int, Built]]:
    """Each size's site (`_build` of `stages(size)`), in a folder of its own; every one is closed on the way out."""
    built: dict[int, Built] = {}
    try:
        for size in sizes:
            where = workdir / f"{name}-{size}"
            where.mkdir(parents=True, exist_ok=True)
            built[size] = await _build(where, stages(size), threshold=threshold)
        yield built
    finally:
        for _, log, store, codec in built.values():
            await log.close()
            await store.close()
            await codec.close()


async def feed_reads(
    workdir: Path, sizes: tuple[int, ...], reads: int = READS, assembled_reads: int = 20, warmup: int = 5
) -> list[FeedReads]:
    """For each number of followees: the hybrid feed's p50 and p99 and the read-time assembly's p50."""
    async with _sites(workdir, "feed", sizes, _site) as built:
        for size, (ports, *_) in built.items():
            hybrid, old = await feed(ports, READER, PAGE, 0), await assembled(ports, READER, PAGE, 0)
            ids = [v.article["article_id"] for v in hybrid.articles]
            if ids != [v.article["article_id"] for v in old.articles] or len(ids) != min(PAGE, size * ARTICLES_EACH):
                raise RuntimeError(f"feed at {size:,} followees: the hybrid feed's first page is not the assembled one")
        hybrid_at = await _timed(feed, built, reads, warmup)
        old_at = await _timed(assembled, built, assembled_reads, warmup)
        return [
            FeedReads(size, hybrid_at[size]["p50_ms"], hybrid_at[size]["p99_ms"], old_at[size]["p50_ms"])
            for size in sizes
        ]


async def blocked_reads(
    workdir: Path, sizes: tuple[int, ...], reads: int = READS, warmup: int = 5
) -> list[BlockedReads]:
    """For each number of users blocking the reader: the feed's p50 and p99, the reader following BLOCKED_FOLLOWEES."""
    async with _sites(workdir, "blocked", sizes, lambda size: _site(BLOCKED_FOLLOWEES, size)) as built:
        for size, (ports, *_) in built.items():
            blockers = await ports.social.blockers_of(READER)
            shown = len((await feed(ports, READER, PAGE, 0)).articles)
            if len(blockers) != size or shown != min(PAGE, BLOCKED_FOLLOWEES * ARTICLES_EACH):
                raise RuntimeError(f"feed with {size:,} blockers: {len(blockers):,} blocks projected, {shown} shown")
        at = await _timed(feed, built, reads, warmup)
        return [BlockedReads(size, at[size]["p50_ms"], at[size]["p99_ms"]) for size in sizes]


async def outlier_reads(
    workdir: Path, sizes: tuple[int, ...], reads: int = READS, warmup: int = 5
) -> list[OutlierReads]:
    """For each number of articles the one outlier the reader follows has written: the feed's p50 and p99."""
    async with _sites(workdir, "outlier", sizes, _outlier_site, threshold=1) as built:
        for size, (ports, *_) in built.items():
            shown = [v.article["slug"] for v in (await feed(ports, READER, PAGE, 0)).articles]
            newest = [publication(a, user_id(1), 0).slug for a in range(size, max(size - PAGE, 0), -1)]
            if shown != newest or await ports.timelines.outliers("author") != [user_id(1)]:
                raise RuntimeError(f"feed of an outlier with {size:,} articles: not their newest, or not pulled")
        at = await _timed(feed, built, reads, warmup)
        return [OutlierReads(size, at[size]["p50_ms"], at[size]["p99_ms"]) for size in sizes]
