"""The runs behind each group of figures; every one measures its baselines itself."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import partial

from bench import ingest, reads, rebuilds, wrk
from bench import projection as proj
from bench.common import prepare_embedded, site_events, tokens
from bench.procs import JWT_SECRET, Processes
from bench.report import Figure, Target, ratio_at_least, value_at_least, value_at_most
from bench.workload import Generated, Shape, events, user_id

Say = Callable[[str], None]
REPLAY_JOBS = max(2, os.cpu_count() or 1)  # a replay process per core


def _site(ctx, n_full: int, n_quick: int) -> tuple[list, Generated]:
    return site_events(n_quick if ctx.sizes.quick else n_full, reads.READS_SHAPE)


def _tokens(site: Generated, count: int = 50) -> list[str]:
    # Users from the middle of the site: they follow earlier users, so their feeds are not empty.
    first = max(0, site.users // 2)
    return tokens(user_id(first + i) for i in range(min(count, site.users - first)))


def http_embedded(ctx, say: Say) -> list[Figure]:
    """Reads, freshness and ingest against `tribe serve` on the embedded default, and the bare servers."""
    sizes = ctx.sizes
    work = ctx.dir("http-embedded")
    site_events_, site = _site(ctx, 40_000, 10_000)
    data = work / "data"
    say(f"http: preparing a site of {len(site_events_):,} events ({site.users:,} users, {site.articles:,} articles)")
    asyncio.run(prepare_embedded(data, site_events_))
    toks = _tokens(site)
    figures: list[Figure] = []
    if not wrk.available():
        say("http: wrk is not installed (bash scripts/debian-packages installs it): bench/load.py drives the capacity "
            "figures, on the server's cores, at ~0.1 ms of CPU per request to wrk's ~0.04")

    def feed_capacity(url: str, server_cpu: Callable[[], float]) -> dict:
        return reads.read_capacity(url, site, toks, "feed", sizes.steady_seconds, sizes.warmup, work, server_cpu)

    with Processes(work) as procs:
        # Reads first, on the prepared site, against the same requests from plain SQLite tables: the bare
        # handler serves throughout, its capacity measured in turns with each server's (reads.capacities_in_turns).
        asyncio.run(reads.bare_reads_db(data / "store.db", work / "bare-reads.db"))
        bare_url = procs.bare("bare-reads", "reads", "--db", str(work / "bare-reads.db"), "--secret", JWT_SECRET)

        def capacities(url: str, name: str) -> list[dict]:
            """The feed's capacity on the server `name` at `url`, and the bare handler's, in turns (each round said)."""
            measured = reads.capacities_in_turns(
                [
                    partial(feed_capacity, url, partial(procs.cpu_seconds, name)),
                    partial(feed_capacity, bare_url, partial(procs.cpu_seconds, "bare-reads")),
                ]
            )
            for server, capacity in zip((name, "bare-reads"), measured):
                rounds = ", ".join(f"{r['rps']:,.0f} req/s at {r['cpu_ms']:.3f} ms" for r in capacity["rounds"])
                say(f"http: {server} feed capacity by round: {rounds}")
            return measured

        url = procs.serve("tribe-embedded-2", data, "--processes", "2")
        say("http: feed reads on tribe --processes 2")
        spread_reads = reads.steady_reads(url, site, toks, "feed", sizes.steady_seconds, sizes.warmup, work)
        say("http: feed capacity on tribe --processes 2 and on the bare handler, in turns")
        spread_capacity, bare_beside_spread = capacities(url, "tribe-embedded-2")
        procs.stop_named("tribe-embedded-2")
        url = procs.serve("tribe-embedded", data)
        say("http: reads on tribe")
        tribe_reads = {
            k: reads.steady_reads(url, site, toks, k, sizes.steady_seconds, sizes.warmup, work)
            for k in ("feed", "article")
        }
        say("http: feed capacity on tribe and on the bare handler, in turns")
        tribe_capacity, bare_beside_tribe = capacities(url, "tribe-embedded")
        say("http: freshness on tribe")
        fresh = reads.freshness(url, site, toks, sizes.steady_seconds, sizes.warmup, work)
        say("http: ingest on tribe")
        tribe_ingest = ingest.measure(url, site, toks, sizes, work)
        procs.stop_named("tribe-embedded")
        say("http: reads on the bare handler")
        bare_reads = {
            k: reads.steady_reads(bare_url, site, toks, k, sizes.steady_seconds, sizes.warmup, work)
            for k in ("feed", "article")
        }
    figures += ingest.figures("embedded", tribe_ingest, bare_ingest(ctx, say, site, toks, tribe_ingest.half["rate"]))
    figures += freshness_figures("embedded", fresh, 20)
    for kind, label in (("feed", "GET /api/articles/feed"), ("article", "GET /api/articles/{slug}")):
        t, b = tribe_reads[kind]["latency"], bare_reads[kind]["latency"]
        base = "bare handler on a plain SQLite table"
        figures.append(Figure(f"reads embedded, {label} at 1,000 req/s: p50", t["p50_ms"], "ms", base, b["p50_ms"]))
        figures.append(
            Figure(
                f"reads embedded, {label} at 1,000 req/s: p99",
                t["p99_ms"],
                "ms",
                base,
                b["p99_ms"],
                value_at_most(5, "ms"),
            )
        )
    base, b = "bare handler on a plain SQLite table", bare_reads["feed"]["latency"]
    spread = "reads embedded --processes 2, GET /api/articles/feed"
    figures += [
        Figure(f"{spread} at 1,000 req/s: p50", spread_reads["latency"]["p50_ms"], "ms", base, b["p50_ms"]),
        Figure(
            f"{spread} at 1,000 req/s: p99",
            spread_reads["latency"]["p99_ms"],
            "ms",
            base,
            b["p99_ms"],
            value_at_most(5, "ms"),
        ),
    ]
    for label, capacity, bare_capacity in (
        ("reads embedded", tribe_capacity, bare_beside_tribe),
        ("reads embedded --processes 2", spread_capacity, bare_beside_spread),
    ):
        figures.append(
            Figure(
                f"{label}, GET /api/articles/feed capacity ({reads.CAPACITY_CONCURRENCY} connections, closed loop, "
                f"{capacity['generator']})",
                capacity["rps"],
                "req/s",
                base,
                bare_capacity["rps"],
                value_at_least(3000, "req/s"),
            )
        )
        figures.append(
            Figure(
                f"{label}, GET /api/articles/feed: server CPU per read at capacity",
                capacity["cpu_ms"],
                "ms",
                base,
                bare_capacity["cpu_ms"],
            )
        )
    return figures


def bare_ingest(ctx, say: Say, site: Generated, toks: list[str], half_rate: float) -> ingest.Measured:
    """The bare handler's ingest figures: its maximum rates once per run, its latency at `half_rate` each time."""
    work = ctx.dir("bare-constant")
    with Processes(work) as procs:
        url = procs.bare("bare-constant", "constant")
        say(f"ingest: the bare handler (at {half_rate:,.0f} req/s open loop)")
        at_half = ingest.measure(url, site, toks, ctx.sizes, work, half_rate=half_rate, parts=("half",))
        full = getattr(ctx, "bare_max", None)
        if full is None:
            say("ingest: the bare handler at its maximum rates")
            full = ctx.bare_max = ingest.measure(url, site, toks, ctx.sizes, work, parts=("single", "batch"))
    return ingest.Measured(full.single, at_half.half, full.batch)


def freshness_figures(runtime: str, fresh: dict, p99_target_ms: float) -> list[Figure]:
    f, plain = fresh["freshness"], fresh["plain_read"]
    base = "the same read without waiting, same load"
    if not f.get("n"):
        raise RuntimeError(f"freshness on {runtime}: no sample came back ({fresh})")
    return [
        Figure(
            f"freshness {runtime} at 1,000 events/s (10/request): p50",
            f["p50_ms"],
            "ms",
            base,
            plain.get("p50_ms", float("nan")),
        ),
        Figure(
            f"freshness {runtime} at 1,000 events/s (10/request): p99",
            f["p99_ms"],
            "ms",
            base,
            plain.get("p99_ms", float("nan")),
            value_at_most(p99_target_ms, "ms"),
        ),
    ]


def projection(ctx, say: Say) -> list[Figure]:
    sizes = ctx.sizes
    work = ctx.dir("projection")
    n = sizes.projection_events
    say(f"projection: filling an embedded log with {n:,} events")
    stream = events(n, Shape(follows_per_user=3), seed=5)
    asyncio.run(prepare_log_only(work / "log.db", stream))
    say("projection: CPU ceiling (decode + dict)")
    values = proj.log_values(work / "log.db")
    ceiling_n, ceiling_s = proj.count(values)
    say("projection: embedded runtime")
    done, seconds = asyncio.run(proj.embedded(work))
    return [
        Figure(
            f"projection embedded, articles + follows views ({done:,} events)",
            done / seconds,
            "events/s",
            "CPU ceiling: decode + dict loop",
            ceiling_n / ceiling_s,
            ratio_at_least(0.3),
        )
    ]


async def prepare_log_only(log_db, stream) -> dict[str, int]:
    from bench.keys import codec
    from bench.workload import fill
    from events.adapters.sqlite_log import SqliteLog

    log, sealing = SqliteLog(log_db), codec()
    try:
        return await fill(log, sealing, stream, batch=10_000)
    finally:
        await log.close()
        await sealing.close()


def replay(ctx, say: Say) -> list[Figure]:
    from bench import es_baseline

    sizes = ctx.sizes
    work = ctx.dir("replay")
    n = sizes.replay_events
    say(f"replay: filling an embedded log with {n:,} events")
    asyncio.run(rebuilds.fill_log(work / "log.db", n))
    say("replay: tribe replay articles")
    done, seconds = asyncio.run(rebuilds.rebuild_articles(work / "log.db", work / "store.db"))
    say(f"replay: tribe replay articles --jobs {REPLAY_JOBS}")
    done_jobs, seconds_jobs = asyncio.run(
        rebuilds.rebuild_articles(work / "log.db", work / "store-jobs.db", REPLAY_JOBS)
    )
    _, ceiling = proj.count(proj.log_values(work / "log.db", ("tribe.articles",)))
    ctx.replay_timing = (n, seconds, ceiling)
    say(f"replay: eventsourcing baseline on the first {sizes.es_events:,} article events")
    app, _ = es_baseline.record(work / "es-app.db", events(n, rebuilds.REPLAY_SHAPE, seed=3), sizes.es_events)
    es_done, es_seconds = es_baseline.project(app, work / "es-view.db")
    app.close()
    baseline = f"eventsourcing 9.5 projection, SQLite ({es_done:,} of the same events)"
    return [
        Figure(
            f"replay embedded, articles view from {done:,} events",
            done / seconds,
            "events/s",
            baseline,
            es_done / es_seconds,
            ratio_at_least(10),
        ),
        Figure(
            f"replay embedded --jobs {REPLAY_JOBS} (one process per core), same log",
            done_jobs / seconds_jobs,
            "events/s",
            baseline,
            es_done / es_seconds,
            ratio_at_least(10),
        ),
    ]


def growth(ctx, say: Say) -> list[Figure]:
    sizes = ctx.sizes
    work = ctx.dir("growth")
    timings: list[tuple[int, float, float]] = []  # (size, replay seconds, ceiling seconds)
    known = getattr(ctx, "replay_timing", None)
    for size in sizes.growth_sizes:
        if known is not None and known[0] == size:
            timings.append(known)  # the replay figure's own log and timings
            continue
        log_db = work / f"log-{size}.db"
        say(f"growth: log of {size:,} events")
        asyncio.run(rebuilds.fill_log(log_db, size))
        _, seconds = asyncio.run(rebuilds.rebuild_articles(log_db, work / f"store-{size}.db"))
        _, ceiling = proj.count(proj.log_values(log_db, ("tribe.articles",)))
        timings.append((size, seconds, ceiling))
    sizes_ = [t[0] for t in timings]
    replay_exp = rebuilds.exponent(sizes_, [t[1] for t in timings])
    ceiling_exp = rebuilds.exponent(sizes_, [t[2] for t in timings])
    small, large = timings[0], timings[-1]
    figures = [
        Figure(
            f"replay growth: fitted exponent of time vs log length ({small[0]:,} to {large[0]:,})",
            replay_exp,
            "exponent",
            "the CPU-ceiling loop's exponent, same logs",
            ceiling_exp,
            Target("linear: <= 1.1", lambda f: f.value <= 1.1),
        ),
        Figure(
            f"replay growth: cost per event at {large[0]:,}",
            large[1] / large[0] * 1e6,
            "us/event",
            f"cost per event at {small[0]:,}",
            small[1] / small[0] * 1e6,
        ),
    ]
    figures += publish_growth(ctx, say)
    figures += feed_growth(ctx, say)
    figures += bump_growth(ctx, say)
    figures += tags_growth(ctx, say)
    figures += store_growth(ctx, say)
    return figures


FLAT = Target("flat: ratio <= 1.5", lambda f: f.ratio <= 1.5)


def publish_growth(ctx, say: Say) -> list[Figure]:
    """One author's publication as their followers grow, the fan-out's work included; the largest fan-out; and
    a read of the author's stats at each size."""
    from tribe.settings import Settings

    sizes = ctx.sizes
    threshold = Settings().fanout_threshold
    say(f"growth: publish cost for {', '.join(f'{f:,}' for f in sizes.followers)} followers")
    costs = asyncio.run(rebuilds.publish_cost(ctx.dir("publish"), sizes.followers, threshold))
    first, last = costs[0], costs[-1]
    largest = threshold - 1
    say(f"growth: publish cost for {largest:,} followers, the largest fan-out")
    [widest] = asyncio.run(rebuilds.publish_cost(ctx.dir("publish-widest"), (largest,), threshold, publishes=10))
    # Just under the threshold, a publish writes a timeline document per follower (fewer than the threshold), a
    # delivery per 1,000 of them, the publication and its own few documents: within 1 % of the threshold.
    return [
        Figure(
            f"publish cost: writes per publish at {last.followers:,} followers (log + store)",
            last.writes,
            "writes",
            f"at {first.followers:,} followers",
            first.writes,
            FLAT,
        ),
        Figure(
            f"publish cost: median time per publish at {last.followers:,} followers (fan-out included)",
            last.seconds * 1000,
            "ms",
            f"at {first.followers:,} followers",
            first.seconds * 1000,
            FLAT,
        ),
        Figure(
            f"publish cost: writes per publish at {largest:,} followers, the largest fan-out",
            widest.writes,
            "writes",
            f"TRIBE_FANOUT_THRESHOLD ({threshold:,}), which bounds it",
            threshold,
            Target("bounded: ratio <= 1.01", lambda f: f.ratio <= 1.01),
        ),
        Figure(
            f"publish cost: median time per publish at {largest:,} followers, the largest fan-out",
            widest.seconds * 1000,
            "ms",
            f"at {first.followers:,} followers",
            first.seconds * 1000,
        ),
        Figure(
            f"user stats: median time per read at {last.followers:,} followers",
            last.stats_seconds * 1000,
            "ms",
            f"at {first.followers:,} followers",
            first.stats_seconds * 1000,
            FLAT,
        ),
    ]


def feed_growth(ctx, say: Say) -> list[Figure]:
    """One reader's feed read as the authors they follow grow, and the read-time assembly it replaced;
    one reader's feed as the users who block them grow; and as the one outlier they follow writes more."""
    from bench.feeds import ARTICLES_EACH, BLOCKED_FOLLOWEES, blocked_reads, feed_reads, outlier_reads

    sizes = ctx.sizes.followees
    listed = ", ".join(f"{n:,}" for n in sizes)
    say(f"growth: feed reads at {listed} followees")
    reads = asyncio.run(feed_reads(ctx.dir("feeds"), sizes))
    first, last = reads[0], reads[-1]
    at = f"at {first.followees:,} followees"
    say(f"growth: feed reads of a reader following {BLOCKED_FOLLOWEES}, blocked by {listed} users")
    blocked = asyncio.run(blocked_reads(ctx.dir("blocked-feeds"), sizes))
    fewest, most = blocked[0], blocked[-1]
    by_fewest = f"with {fewest.blockers:,} users blocking the reader"
    written = tuple(ARTICLES_EACH * n for n in sizes)  # from 30, so that every page is full
    articles = ", ".join(f"{n:,}" for n in written)
    say(f"growth: feed reads of a reader following one outlier who wrote {articles} articles")
    outlier = asyncio.run(outlier_reads(ctx.dir("outlier-feeds"), written))
    shortest, longest = outlier[0], outlier[-1]
    by_shortest = f"when the outlier wrote {shortest.articles:,}"
    return [
        Figure(f"feed read: p50 at {last.followees:,} followees", last.p50_ms, "ms", at, first.p50_ms, FLAT),
        Figure(f"feed read: p99 at {last.followees:,} followees", last.p99_ms, "ms", at, first.p99_ms, FLAT),
        Figure(
            f"feed read before the hybrid feed (read-time assembly): p50 at {last.followees:,} followees",
            last.assembled_p50_ms,
            "ms",
            at,
            first.assembled_p50_ms,
        ),
        Figure(
            f"feed read: p50 with {most.blockers:,} users blocking the reader",
            most.p50_ms,
            "ms",
            by_fewest,
            fewest.p50_ms,
            FLAT,
        ),
        Figure(
            f"feed read: p99 with {most.blockers:,} users blocking the reader",
            most.p99_ms,
            "ms",
            by_fewest,
            fewest.p99_ms,
            FLAT,
        ),
        Figure(
            f"feed read: p50 following one outlier who wrote {longest.articles:,} articles",
            longest.p50_ms,
            "ms",
            by_shortest,
            shortest.p50_ms,
            FLAT,
        ),
        Figure(
            f"feed read: p99 following one outlier who wrote {longest.articles:,} articles",
            longest.p99_ms,
            "ms",
            by_shortest,
            shortest.p99_ms,
            FLAT,
        ),
    ]


BUMPERS_FULL = (10, 1_000, 100_000, 1_000_000)
BUMPERS_QUICK = (10, 1_000, 10_000)


def bump_growth(ctx, say: Say) -> list[Figure]:
    """One more bump of an article as its bumpers grow: the bytes every view writes for it, and its time."""
    from bench.bumps import bump_cost

    sizes = BUMPERS_QUICK if ctx.sizes.quick else BUMPERS_FULL
    say(f"growth: bump cost at {', '.join(f'{n:,}' for n in sizes)} bumpers of one article")
    costs = asyncio.run(bump_cost(ctx.dir("bumps"), sizes))
    first, last = costs[0], costs[-1]
    return [
        Figure(
            f"bump cost: bytes written per bump at {last[0]:,} bumpers",
            last[1],
            "bytes",
            f"at {first[0]:,} bumpers",
            first[1],
            FLAT,
        ),
        Figure(
            f"bump cost: median time per bump at {last[0]:,} bumpers",
            last[2] * 1000,
            "ms",
            f"at {first[0]:,} bumpers",
            first[2] * 1000,
            FLAT,
        ),
    ]


ARTICLES_FULL = (1_000, 100_000)
ARTICLES_QUICK = (1_000, 10_000)


def tags_growth(ctx, say: Say) -> list[Figure]:
    """GET /api/tags as the live articles grow: one aggregation, and how many a stream of writes and reads runs."""
    from bench.tags import READS, tags_cost

    sizes = ARTICLES_QUICK if ctx.sizes.quick else ARTICLES_FULL
    say(f"growth: the tag list at {', '.join(f'{n:,}' for n in sizes)} live articles")
    costs = asyncio.run(tags_cost(ctx.dir("tags"), sizes))
    (first, first_seconds, first_runs), (last, last_seconds, last_runs) = costs[0], costs[-1]
    return [
        Figure(
            f"tag list: one aggregation at {last:,} live articles",
            last_seconds * 1000,
            "ms",
            f"at {first:,} live articles",
            first_seconds * 1000,
        ),
        Figure(
            f"tag list: aggregations run by {READS} reads at {last:,} articles, a write before each",
            last_runs,
            "runs",
            f"the same reads at {first:,} articles",
            first_runs,
            FLAT,
        ),
    ]


DOCUMENTS_FULL = (10_000, 300_000)
DOCUMENTS_QUICK = (10_000, 100_000)


def store_growth(ctx, say: Say) -> list[Figure]:
    """A batched get of 20 documents at random as the embedded store grows past SQLite's page cache."""
    from bench.store_reads import IDS, get_cost

    sizes = DOCUMENTS_QUICK if ctx.sizes.quick else DOCUMENTS_FULL
    say(f"growth: a get of {IDS} documents at random from {', '.join(f'{n:,}' for n in sizes)}")
    (first, first_seconds), (last, last_seconds) = asyncio.run(get_cost(ctx.dir("store-reads"), sizes))
    return [
        Figure(
            f"store get: {IDS} documents at random from {last:,} (CPU per get)",
            last_seconds * 1e6,
            "us",
            f"from {first:,} documents",
            first_seconds * 1e6,
        )
    ]


def kafka(ctx, say: Say) -> list[Figure]:
    from bench import kafka as k

    return k.run(ctx, say)
