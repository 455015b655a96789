"""What the figures share: sizes for a full and a quick run, data sets, tokens, quiet logging."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import structlog

from bench.procs import JWT_SECRET
from bench.workload import Generated, Shape, events, fill
from tribe.settings import Settings

if TYPE_CHECKING:
    from events.routing import ArticleEvent
    from projections.embedded import EmbeddedRuntime
    from projections.store import Store
    from projections.views import View
    from reducers.base import DocKey
    from services.erasure_runner import ErasureRunner
    from services.fanout_runner import FanOutRunner

Measured = TypeVar("Measured")


@dataclass(frozen=True)
class Sizes:
    quick: bool
    load_seconds: float  # measured seconds of one load run
    warmup: float
    projection_events: int
    replay_events: int
    es_events: int  # events the eventsourcing baseline projects (a prefix of the replay log)
    growth_sizes: tuple[int, ...]
    followers: tuple[int, ...]  # of each author whose publications the growth section times (an author a count)
    followees: tuple[int, ...]  # of the reader whose feed the growth section reads
    steady_seconds: float  # freshness and reads at a steady rate
    kafka_projection_events: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                True,
                1.5,
                0.5,
                20_000,
                30_000,
                3_000,
                (1_000, 5_000, 30_000),
                (100, 1_000, 10_000),
                (10, 100, 1_000),
                2.0,
                10_000,
            )
        # Sized to finish within 10 minutes on 2 cores: the eventsourcing baseline projects a prefix
        # of the replay log (its rate does not depend on the log's length), and the Faust figure
        # runs on half the embedded projection's workload (same shape, same seed).
        return cls(
            False,
            4.0,
            1.0,
            200_000,
            1_000_000,
            50_000,
            (10_000, 100_000, 1_000_000),
            (100, 1_000, 10_000, 100_000, 1_000_000),
            (10, 100, 1_000, 10_000),
            5.0,
            100_000,
        )


def quiet() -> None:
    """Projection batches log a line each at info; the benchmark process keeps warnings only."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    logging.getLogger().setLevel(logging.WARNING)


def tokens(user_ids: Iterable[str]) -> list[str]:
    from services.security import Tokens

    issuer = Tokens(JWT_SECRET, 86400)
    return [issuer.issue(u) for u in user_ids]


# A small site for the HTTP figures: many users and articles, a few follows each.
SITE = Shape(register_every=10, publish_every=20, window=500, initial_users=20, follows_per_user=0)


def site_events(n: int, shape: Shape = SITE) -> tuple[list, Generated]:
    generated = Generated()
    return list(events(n, shape, seed=11, into=generated)), generated


def embedded_settings(data_dir: Path) -> Settings:
    """`tribe serve`'s settings on the embedded log and store in `data_dir`, with the benchmark's secret and keys."""
    from bench.keys import keyed

    return keyed(
        Settings(
            log_url=f"sqlite:///{data_dir / 'log.db'}",
            store_url=f"sqlite:///{data_dir / 'store.db'}",
            jwt_secret=JWT_SECRET,
        )
    )


async def settle(runtime: EmbeddedRuntime, *runners: FanOutRunner | ErasureRunner) -> None:
    """Project, decide, project what the runners decided: until neither the views nor the runners have work left."""
    while True:
        while await runtime.run_once():
            pass
        if not any([await runner.run_once() for runner in runners]):
            return


async def prepare_embedded(data_dir: Path, stream: Iterable) -> dict[str, int]:
    """Fill an embedded log in `data_dir`, project it and file its timelines as `tribe serve` would before it starts."""
    from bench.keys import codec as run_codec
    from events.adapters.sqlite_log import SqliteLog
    from projections.adapters.sqlite_store import SqliteStore
    from projections.embedded import EmbeddedRuntime
    from projections.live import install
    from projections.views import VIEWS
    from tribe.bootstrap import erasure_runner, fanout_runner, moderation_runner

    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    log = SqliteLog(data_dir / "log.db")
    store = SqliteStore(data_dir / "store.db")
    codec = run_codec()
    try:
        per_topic = await fill(log, codec, iter(stream))
        await install(store, VIEWS)
        settings = embedded_settings(data_dir)
        runners = [make(settings, log, store, codec) for make in (fanout_runner, moderation_runner, erasure_runner)]
        await settle(EmbeddedRuntime(log, store, codec, VIEWS), *runners)
        for runner in runners:
            await runner.progress.close()
    finally:
        await log.close()
        await store.close()
        await codec.close()
    return per_topic


def fresh_db(workdir: Path, name: str) -> Path:
    """`workdir / name` with no file there: a kept run's (and SQLite's files beside it), whose documents
    a figure's writes would leave unchanged, are removed."""
    for stale in workdir.glob(f"{name}*"):
        stale.unlink()
    return workdir / name


WRITE_CHUNK = 20_000
"""Documents a benchmark that builds its own store writes in one store write."""


async def fold_into(
    store: Store, view: View, version: int, pairs: Iterable[tuple[int, ArticleEvent]], carry: Callable[[DocKey], bool]
) -> None:
    """Build a view's state directly: fold (offset, event) pairs with its reducer, chunk by chunk, and write
    what each chunk changes with the checkpoint of the chunk's last event (keyed by its article).

    The growth figures start from states that projecting 10^5 or 10^6 events through a runtime
    would take minutes to reach, and measure nothing more. `carry` says which documents a later
    chunk may change again: those stay in memory for it; the rest are written and forgotten.
    """
    from events.routing import ROUTES, partition_for
    from projections.store import Checkpoint, DocWrite
    from reducers.base import fold

    physical = view.targets(version)
    state: dict = {}
    remaining = iter(pairs)
    while chunk := list(itertools.islice(remaining, WRITE_CHUNK)):
        changed = fold(view.reducer, state, chunk)
        writes = [DocWrite(physical[c], doc_id, v.version, v.body) for (c, doc_id), v in changed.items()]
        offset, last = chunk[-1]
        topic = ROUTES[type(last).__name__].topic
        partition = partition_for(topic, last.article_id)
        await store.write(writes, Checkpoint(view.projection_id(version), {(topic, partition): offset}))
        state.update((key, v) for key, v in changed.items() if carry(key))


async def wait_caught_up(settings: Settings, timeout: float = 120.0) -> None:
    """Until every live view's checkpoint and the fan-out's have reached the head of the log (workers run elsewhere)."""
    from projections.views import VIEWS
    from replay.versions import status
    from services.fanout_runner import CHECKPOINT, fanout_partitions
    from tribe.bootstrap import make_log, make_store

    log, store = make_log(settings), make_store(settings)
    deadline = time.monotonic() + timeout
    try:
        while True:
            lag = 0
            for view in await status(log, store, VIEWS):
                live = [v for v in view.versions if v.live]
                lag += live[0].total_lag if live else 1
            decided = await store.checkpoint(CHECKPOINT)
            heads = await log.end_offsets(fanout_partitions())
            lag += sum(max(0, head - decided.get(tp, 0)) for tp, head in heads.items())
            if lag == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the projections did not catch up within {timeout} s (lag {lag})")
            await asyncio.sleep(0.25)
    finally:
        await log.close()
        await store.close()


async def in_turns(
    measures: Sequence[Callable[[], Awaitable[Measured]]], rounds: int, warmup: int = 0
) -> list[list[Measured]]:
    """Each measure once a round, in turns, `rounds` times; each one's results, its first `warmup` rounds left out.

    The machine this runs on slows by about half for seconds at a time: a figure measured in one
    stretch and its baseline (or the same figure at another size) in another would differ by that
    much. Taking turns gives them the same moments.
    """
    results: list[list[Measured]] = [[] for _ in measures]
    for round_ in range(rounds):
        for measure, measured in zip(measures, results):
            result = await measure()
            if round_ >= warmup:
                measured.append(result)
    return results
