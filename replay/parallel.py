"""Replay helpers in processes of their own: `tribe replay VIEW --jobs N` uses N cores.

A rebuild is bound by one core (decoding and folding are Python). Partitions are independent,
so N - 1 spawned processes each open the log and the store with the opener they are given
(the composition root's, from the same Settings) and catch the new version up on their share
of the partitions, while the calling process does its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from events.codec import EventCodec
from events.log import Log
from projections.processor import Projector
from projections.store import Store
from projections.views import VIEWS, View
from replay.rebuild import TP, Helper, catch_up

Opener = Callable[[], contextlib.AbstractAsyncContextManager[tuple[Log, Store, EventCodec]]]
"""Opens a log and a store for a block; must pickle (a module-level function, or a partial of one)."""


def _catch_up_partitions(open_adapters: Opener, view_name: str, version: int, partitions: list[TP]) -> int:
    """In a spawned process: feed one version of a view from these partitions, with adapters of its own."""
    view = next(v for v in VIEWS if v.name == view_name)

    async def run() -> int:
        async with open_adapters() as (log, store, codec):
            return await catch_up(log, Projector(store, codec, view, version), partitions=set(partitions))

    return asyncio.run(run())


@contextlib.contextmanager
def process_helpers(open_adapters: Opener, jobs: int) -> Iterator[list[Helper]]:
    """`jobs - 1` helpers (none for jobs <= 1), backed by spawned processes shut down on exit."""
    if jobs <= 1:
        yield []
        return
    with ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("spawn")) as pool:

        async def helper(view: View, version: int, partitions: list[TP]) -> int:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool, _catch_up_partitions, open_adapters, view.name, version, partitions)

        yield [helper] * (jobs - 1)
