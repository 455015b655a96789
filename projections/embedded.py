"""The embedded runtime: reducers follow the local log inside the API's process.

Each view's live version reads every partition of its topics from its checkpoint, through
its own `ViewFeeder` (projections/feeder.py), and writes documents and the new checkpoint in
one SQLite transaction, so nothing is applied twice or skipped across a crash.

Views fail alone: a view whose batch fails sits out its backoff (and parks the events at
fault once its retries are spent: projections/dead_letters.py) while the others go on, so a
bug in the notifications reducer does not stop registration or login. A view whose live
version is built by other code (a switch made by a newer release) is left alone.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from events.codec import EventCodec
from events.log import Entry, Log, until_appended
from projections.failures import Retry, failed_pass, this_process
from projections.feeder import TP, ViewFeeder, log_batch
from projections.live import install
from projections.metrics import ProjectionMetrics
from projections.store import Store
from projections.views import View

log = structlog.get_logger("embedded")

TICK = 1.0  # seconds between the feeders' ticks: parked keys re-read, statuses reported


class EmbeddedRuntime:
    def __init__(
        self,
        log: Log,
        store: Store,
        codec: EventCodec,
        views: tuple[View, ...],
        *,
        wakeup: asyncio.Event | None = None,
        batch_size: int = 1000,
        idle_poll: float = 0.05,
        retry: Retry | None = None,
        runner: str | None = None,
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        self.log = log
        self.store = store
        self.views = views
        self.wakeup = wakeup
        self.batch_size = batch_size
        self.idle_poll = idle_poll
        self.advanced = asyncio.Event()
        runner = runner or this_process()
        self.metrics = metrics or ProjectionMetrics()
        # Aliases are read on every pass (the SQLite store caches them for half a second): a switch is
        # followed as soon as it is seen.
        self.feeders = [
            ViewFeeder(view, store, codec, log, alias_refresh=0.0, retry=retry, runner=runner, metrics=self.metrics)
            for view in views
        ]
        self._ticked_at = float("-inf")

    async def run_once(self) -> int:
        """Process what the log holds beyond each live version's checkpoint; return the events settled.

        A pass reads every partition that grew in one trip to the log, and folds each view's
        share of it as one batch, whatever the number of partitions: one store transaction per
        view and pass, not one per partition. A view that fails sits the rest of the pass out.
        Returns once every batch is stored, so a reader woken by `advanced` finds the documents.
        """
        feeding = [f for f in self.feeders if await f.ready()]
        done = 0
        more = True
        while more and feeding:
            positions = [await f.positions() for f in feeding]
            heads = await self.log.end_offsets(sorted({tp for f in feeding for tp in f.view.partitions()}))
            starts: dict[TP, int] = {}
            for f, offsets in zip(feeding, positions):
                for tp in f.view.partitions():
                    at = offsets.get(tp, 0)
                    if heads.get(tp, 0) > at:
                        starts[tp] = min(starts.get(tp, at), at)
            if not starts:
                break
            read = await self.log.read_many(starts, self.batch_size)
            more = any(len(entries) == self.batch_size for entries in read.values())
            for f, offsets in zip(feeding, positions):
                done += await self._feed(f, offsets, read)
            await self.tick()  # a long catch-up still re-reads the parked keys and reports, once a second
            feeding = [f for f in feeding if f.guard.ready()]
        for f in self.feeders:
            await f.settle()
        if done:
            self.advanced.set()
            self.advanced = asyncio.Event()
        return done

    async def _feed(self, feeder: ViewFeeder, offsets: dict[TP, int], read: dict[TP, list[Entry]]) -> int:
        """Offer the entries this view has not seen yet, from every partition it reads, as one batch."""
        batch: dict[TP, list[Entry]] = {}
        for tp in feeder.view.partitions():
            start = offsets.get(tp, 0)
            fresh = [e for e in read.get(tp, ()) if e.position.offset >= start]
            if fresh:
                batch[tp] = fresh
        if not batch:
            return 0
        started = time.perf_counter()
        result = await feeder.offer_batch(batch)
        if result.handled:
            delivered = sum(len(entries) for entries in batch.values())
            seconds = time.perf_counter() - started
            log_batch(self.metrics, feeder, result, delivered, seconds)
        return result.handled

    async def tick(self) -> None:
        """Every `TICK` seconds: each feeder re-reads its parked keys and reports its status."""
        if time.monotonic() - self._ticked_at < TICK:
            return
        self._ticked_at = time.monotonic()
        for feeder in self.feeders:
            await feeder.tick()

    async def run(self) -> None:
        await install(self.store, self.views)
        while True:
            try:
                processed = await self.run_once()
                await self.tick()
            except Exception as exc:  # the log, not a view (each view's failures stay in its feeder)
                failed_pass(log, "projection", exc)
                await asyncio.sleep(1)
                continue
            if processed == 0:
                # A view sitting out a backoff is offered its batch again by the next pass: soon, not in a second.
                retrying = any(feeder.guard.attempts for feeder in self.feeders)
                await until_appended(self.wakeup, self.idle_poll, longest=self.idle_poll if retrying else None)
