"""The figures on the Kafka runtime, against a Tansu broker on loopback.

- ingest and freshness: `tribe serve --log kafka://...` with one `tribe worker`, loaded like
  the embedded API (the bare handler's figures come from the same run);
- projection: each worker engine (articles and follows views) over the same workload as the
  embedded projection figure, against Quix Streams doing the same projection into the same
  kind of store and the Quix Streams counting job, on the same topics of the same broker.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from bench import ingest, reads
from bench.common import Sizes, wait_caught_up
from bench.procs import Processes, _die_with_parent
from bench.report import Figure, ratio_at_least
from bench.workload import Shape, events, records
from tribe.settings import Settings

# Tansu's group joins take about half of the session timeout; and Tansu answers a waiting fetch
# only when its wait runs out, so the workers wait 20 ms rather than the default 1.5 s (on Kafka
# the wait only sets how often an idle worker asks). bench/procs.py gives every tribe process one replica.
WORKER_ENV = {"TRIBE_KAFKA_SESSION_TIMEOUT": "6", "TRIBE_KAFKA_FETCH_WAIT": "0.02"}


async def fill_kafka(url: str, stream: Iterable, batch: int = 5000) -> dict[str, int]:
    """Append events through the Kafka log adapter, sealed with the run's keys; return how many went to each topic."""
    from bench.keys import codec as run_codec
    from bench.worker_job import ONE_BROKER
    from events.adapters.kafka_log import KafkaLog

    log, codec = KafkaLog(url, ONE_BROKER), run_codec()
    per_topic: dict[str, int] = {}
    chunk: list = []

    async def flush() -> None:
        recs = await records(codec, chunk)
        for r in recs:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        await log.append(recs)
        chunk.clear()

    try:
        for event in stream:
            chunk.append(event)
            if len(chunk) >= batch:
                await flush()
        if chunk:
            await flush()
    finally:
        await log.close()
        await codec.close()
    return per_topic


def http(ctx, say, site_events_, site, toks) -> tuple[ingest.Measured, dict]:
    sizes: Sizes = ctx.sizes
    work = ctx.dir("kafka-http")
    with Processes(work) as procs:
        bootstrap = procs.broker("tansu-http")
        url = f"kafka://{bootstrap}"
        say(f"kafka: appending the site ({len(site_events_):,} events) to the broker")
        asyncio.run(fill_kafka(url, site_events_))
        data = work / "data"
        procs.tribe("worker", ["worker", "--log", url], data, WORKER_ENV)
        say("kafka: waiting for the worker to project the site")
        try:
            settings = Settings(
                log_url=url,
                store_url=f"sqlite:///{data / 'store.db'}",
                kafka_replication_factor=1,
                kafka_min_insync_replicas=1,
            )  # one broker
            asyncio.run(wait_caught_up(settings, timeout=180))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nworker log:\n{procs.output('worker')}") from None
        api = procs.serve("tribe-kafka", data, "--log", url, env=WORKER_ENV)
        say("kafka: freshness")
        fresh = reads.freshness(api, site, toks, sizes.steady_seconds, sizes.warmup, work)
        say("kafka: ingest")
        measured = ingest.measure(api, site, toks, sizes, work)
    return measured, fresh


def _progress(store_db: Path, names: tuple[str, ...]) -> int:
    """Events the views' live versions have checkpointed, summed (0 before the store exists)."""
    if not store_db.exists():
        return 0

    async def read() -> int:
        from projections.adapters.sqlite_store import SqliteStore
        from projections.live import live_version
        from projections.views import VIEWS

        store = SqliteStore(store_db)
        try:
            aliases = await store.aliases()
            total = 0
            for view in VIEWS:
                if view.name in names:
                    version = live_version(view, aliases)
                    if version is not None:
                        total += sum((await store.checkpoint(view.projection_id(version))).values())
            return total
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except Exception:  # the worker is creating the store right now
        return 0


def _timed(procs: Processes, name: str, args: list[str], store_db: Path, expected: int) -> float:
    """Events/s of a job that projects into `store_db`: from its first checkpoint to the last event's."""
    job = procs.start(name, [sys.executable, "-m", *args])
    deadline = time.monotonic() + 120 + expected / 1000
    first: tuple[float, int] | None = None
    done = 0
    while done < expected:
        if job.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{procs.output(name)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not finish ({done:,} of {expected:,}):\n{procs.output(name)}")
        time.sleep(0.05)
        done = _progress(store_db, ("articles", "follows"))
        if first is None and done > 0:
            first = (time.perf_counter(), done)
    finished = time.perf_counter()
    procs.stop(job)
    assert first is not None
    return (expected - first[1]) / max(finished - first[0], 1e-6)


def projection(ctx, say) -> list[Figure]:
    """Each engine, Quix Streams doing the same projection, and the Quix counting job, on the same topics."""
    sizes: Sizes = ctx.sizes
    work = ctx.dir("kafka-projection")
    n = sizes.kafka_projection_events
    with Processes(work) as procs:
        bootstrap = procs.broker("tansu-projection")
        say(f"kafka: appending {n:,} events for the projection figure")
        per_topic = asyncio.run(fill_kafka(f"kafka://{bootstrap}", events(n, Shape(follows_per_user=3), seed=5)))
        expected = per_topic.get("tribe.articles", 0) + per_topic.get("tribe.follows", 0)
        rates: dict[str, float] = {}
        for engine in ("kafka", "faust"):
            say(f"kafka: the {engine} engine (articles + follows views)")
            store_db = work / f"{engine}-store.db"
            args = ["bench.worker_job", engine, bootstrap, str(store_db), str(work / engine), f"bench-{engine}"]
            rates[engine] = _timed(procs, f"{engine}-job", args, store_db, expected)
        say("kafka: Quix Streams doing the same projection into the same kind of store")
        store_db = work / "quix-store.db"
        args = ["bench.quix_projection", bootstrap, str(store_db), "bench-quix-projection", str(work / "quix-p-state")]
        rates["quix"] = _timed(procs, "quix-projection", args, store_db, expected)

        say("kafka: Quix Streams counting job on the same topics")
        quix = subprocess.run(
            [sys.executable, "-m", "bench.quix_job", bootstrap, "bench-quix", str(expected), str(work / "quix-state")],
            capture_output=True,
            timeout=120 + expected / 1000,
            preexec_fn=_die_with_parent,
        )
        if quix.returncode != 0:
            raise RuntimeError(f"the Quix job failed:\n{quix.stderr.decode(errors='replace')[-3000:]}")
        q = json.loads(quix.stdout.decode().strip().splitlines()[-1])
    counting = q["events"] / q["seconds"]
    label = f"articles + follows views ({expected:,} events)"
    same = "Quix Streams doing the same projection (decode, fold, SQLite per batch)"
    count = "Quix Streams counting job, same topics and broker"
    return [
        Figure(
            f"projection kafka (kafka engine), {label}",
            rates["kafka"],
            "events/s",
            same,
            rates["quix"],
            ratio_at_least(1.0),
        ),
        Figure(
            f"projection kafka (kafka engine), {label}",
            rates["kafka"],
            "events/s",
            count,
            counting,
            ratio_at_least(0.5),
        ),
        Figure(f"projection kafka (Faust), {label}", rates["faust"], "events/s", same, rates["quix"]),
        Figure(f"projection kafka (Faust), {label}", rates["faust"], "events/s", count, counting, ratio_at_least(0.5)),
    ]


def run(ctx, say) -> list[Figure]:
    from bench.sections import _site, _tokens, bare_ingest, freshness_figures

    # A smaller site than the embedded figures': one worker projects every view of it before the
    # API starts, and the ingest and freshness figures only need its articles and users to exist.
    site_events_, site = _site(ctx, 10_000, 10_000)
    toks = _tokens(site)
    measured, fresh = http(ctx, say, site_events_, site, toks)
    bare = bare_ingest(ctx, say, site, toks, measured.half["rate"])
    figures = ingest.figures("kafka", measured, bare)
    figures += freshness_figures("kafka", fresh, 100)
    figures += projection(ctx, say)
    return figures
