"""Replay helpers in processes of their own: `tribe replay VIEW --jobs N` uses N cores.

A rebuild is bound by one core (decoding and folding are Python). Partitions are independent,
so N - 1 spawned processes each open the log and the store from the same Settings and catch
the new version up on their share of the partitions, while the calling process does its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

from events.codec import EventCodec
from projections.processor import Projector
from projections.views import VIEWS, View
from replay.rebuild import TP, Helper, catch_up
from tribe.process import tune_gc
from tribe.settings import Settings
from tribe.wiring import make_log, make_store


def _catch_up_partitions(settings: Settings, view_name: str, version: int, partitions: list[TP]) -> int:
    """In a spawned process: feed one version of a view from these partitions, with adapters of its own."""
    tune_gc()
    view = next(v for v in VIEWS if v.name == view_name)

    async def run() -> int:
        log, store = make_log(settings), make_store(settings)
        try:
            return await catch_up(log, Projector(store, EventCodec(), view, version), partitions=set(partitions))
        finally:
            await log.close()
            await store.close()

    return asyncio.run(run())


@contextlib.contextmanager
def process_helpers(settings: Settings, jobs: int) -> Iterator[list[Helper]]:
    """`jobs - 1` helpers (none for jobs <= 1), backed by spawned processes shut down on exit."""
    if jobs <= 1:
        yield []
        return
    with ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("spawn")) as pool:

        async def helper(view: View, version: int, partitions: list[TP]) -> int:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool, _catch_up_partitions, settings, view.name, version, partitions)

        yield [helper] * (jobs - 1)
