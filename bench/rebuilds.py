"""Figures 3 and 6: replay (a view rebuilt from the log) and how its cost grows; publish cost vs followers."""

from __future__ import annotations

import functools
import math
import statistics
import time
from pathlib import Path

from bench.workload import Shape, article_id, events, fill, records, slug, user_id
from events.catalogue import ArticlePublished, UserFollowed

# Article traffic only (and the registrations of its users): the articles view reads all of it.
REPLAY_SHAPE = Shape(follows_per_user=0)


async def fill_log(log_db: Path, n: int) -> dict[str, int]:
    from events.adapters.sqlite_log import SqliteLog

    log = SqliteLog(log_db)
    try:
        return await fill(log, events(n, REPLAY_SHAPE, seed=3), batch=10_000)
    finally:
        await log.close()


async def rebuild_articles(log_db: Path, store_db: Path, jobs: int = 1) -> tuple[int, float]:
    """`tribe replay articles [--jobs N]` in-process: build the next version from offset 0 into the embedded store."""
    from events.adapters.sqlite_log import SqliteLog
    from events.codec import EventCodec
    from projections.adapters.sqlite_store import SqliteStore
    from projections.live import install
    from projections.views import VIEWS
    from replay.parallel import process_helpers
    from replay.rebuild import rebuild
    from tribe.bootstrap import helper_adapters
    from tribe.settings import Settings

    view = next(v for v in VIEWS if v.name == "articles")
    log, store = SqliteLog(log_db), SqliteStore(store_db)
    settings = Settings(log_url=f"sqlite:///{log_db}", store_url=f"sqlite:///{store_db}")
    try:
        await install(store, (view,))
        with process_helpers(functools.partial(helper_adapters, settings), jobs) as helpers:
            result = await rebuild(log, store, EventCodec(), view, switch=True, helpers=helpers)
        return result.events, result.seconds
    finally:
        await log.close()
        await store.close()


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): 1 is linear."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-9)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else math.nan


async def publish_cost(
    workdir: Path, followers: tuple[int, ...], publishes: int = 50
) -> list[tuple[int, float, float]]:
    """For each follower count: (followers, store writes per publish, median seconds per publish).

    One author gains followers stage by stage (UserFollowed events, projected by the embedded
    runtime); after each stage the author publishes `publishes` articles, and each publication
    is projected alone through every view that reads its topic, via Projector.process, whose
    BatchResult.writes counts the documents written.
    """
    from events.adapters.sqlite_log import SqliteLog
    from events.codec import EventCodec
    from events.routing import ROUTES
    from projections.adapters.sqlite_store import SqliteStore
    from projections.embedded import EmbeddedRuntime
    from projections.live import install
    from projections.processor import Projector
    from projections.views import VIEWS

    log, store = SqliteLog(workdir / "publish-log.db"), SqliteStore(workdir / "publish-store.db")
    codec = EventCodec()
    author = user_id(0)
    topic = ROUTES["ArticlePublished"].topic
    try:
        live = await install(store, VIEWS)
        runtime = EmbeddedRuntime(log, store, codec, VIEWS)
        readers = [Projector(store, codec, v, live[v.name]) for v in VIEWS if topic in v.topics]
        # Register the author (and nobody else: follows need no registered follower).
        await fill(log, iter(list(events(1, Shape(initial_users=1), seed=5))))
        have = 0
        results = []
        n = 0
        for target in followers:
            stream = (
                UserFollowed(
                    event_id=f"F{i:015d}",
                    actor_id=user_id(i + 1),
                    occurred_at=1_700_000_000_000 + i,
                    followee_id=author,
                )
                for i in range(have, target)
            )
            await fill(log, stream, batch=10_000)
            have = target
            while await runtime.run_once():
                pass
            writes = 0
            per_publish: list[float] = []
            for _ in range(publishes):
                a = 10_000_000 + n
                n += 1
                event = ArticlePublished(
                    event_id=f"P{a:015d}",
                    actor_id=author,
                    occurred_at=1_700_100_000_000 + a,
                    article_id=article_id(a),
                    slug=slug(a),
                    title=f"Post {a}",
                    description="d",
                    body="b",
                    tags=("x",),
                )
                [position] = await log.append(records([event]))
                [entry] = await log.read(position.topic, position.partition, position.offset, 1)
                seconds = 0.0
                for projector in readers:
                    started = time.perf_counter()
                    result = await projector.process([entry])
                    seconds += time.perf_counter() - started
                    writes += result.writes
                per_publish.append(seconds)
            # Keep the runtime's checkpoints in step with what the projectors wrote.
            while await runtime.run_once():
                pass
            results.append((target, writes / publishes, statistics.median(per_publish)))
        return results
    finally:
        await log.close()
        await store.close()
