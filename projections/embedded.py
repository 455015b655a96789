"""The embedded runtime: reducers follow the local log inside the API's process.

Each view's live version reads every partition of its topics from its
checkpoint, and writes documents and the new checkpoint in one SQLite
transaction, so nothing is applied twice or skipped across a crash.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from events.codec import EventCodec
from events.log import Entry, Log
from projections.live import install, live_version
from projections.processor import Projector
from projections.store import Store
from projections.views import View

log = structlog.get_logger("embedded")


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
    ) -> None:
        self.log = log
        self.store = store
        self.codec = codec
        self.views = views
        self.wakeup = wakeup
        self.batch_size = batch_size
        self.idle_poll = idle_poll
        self.advanced = asyncio.Event()
        self._projectors: dict[str, Projector] = {}
        self._offsets: dict[str, dict[tuple[str, int], int]] = {}

    async def _projector(self, view: View, version: int) -> Projector:
        current = self._projectors.get(view.name)
        if current is None or current.version != version:
            current = Projector(self.store, self.codec, view, version)
            self._projectors[view.name] = current
            self._offsets[view.name] = await self.store.checkpoint(current.projection_id)
        return current

    async def run_once(self) -> int:
        """Process what the log holds beyond each live version's checkpoint; return the event count.

        A pass reads every partition that grew in one trip to the log, and folds each view's
        share of it as one batch, whatever the number of partitions: one store transaction per
        view and pass, not one per partition. Returns once every batch is stored, so a reader
        woken by `advanced` finds the documents.
        """
        aliases = await self.store.aliases()
        live: list[tuple[View, Projector]] = []
        for view in self.views:
            version = live_version(view, aliases)
            if version is not None:
                live.append((view, await self._projector(view, version)))
        done = 0
        more = True
        while more:
            heads = await self.log.end_offsets(sorted({tp for view, _ in live for tp in view.partitions()}))
            starts: dict[tuple[str, int], int] = {}
            for view, _ in live:
                offsets = self._offsets[view.name]
                for tp in view.partitions():
                    if heads.get(tp, 0) > offsets.get(tp, 0):
                        starts[tp] = min(starts.get(tp, offsets.get(tp, 0)), offsets.get(tp, 0))
            if not starts:
                break
            read = await self.log.read_many(starts, self.batch_size)
            more = any(len(entries) == self.batch_size for entries in read.values())
            for view, projector in live:
                done += await self._feed(view, projector, read)
        for _, projector in live:
            await projector.flush()
        if done:
            self.advanced.set()
            self.advanced = asyncio.Event()
        return done

    async def _feed(self, view: View, projector: Projector, read: dict[tuple[str, int], list[Entry]]) -> int:
        """Submit the entries this view has not seen yet, from every partition it reads, as one batch."""
        offsets = self._offsets[view.name]
        entries: list[Entry] = []
        ends: dict[tuple[str, int], int] = {}
        for tp in view.partitions():
            start = offsets.get(tp, 0)
            fresh = [e for e in read.get(tp, ()) if e.position.offset >= start]
            if fresh:
                entries += fresh
                ends[tp] = fresh[-1].position.offset + 1
        if not entries:
            return 0
        batch = await projector.submit(entries)
        log.info("batch", projection=projector.projection_id, partitions=len(ends), events=batch.events,
                 writes=batch.writes, ms=batch.ms)
        offsets.update(ends)
        return len(entries)

    async def _reset(self) -> None:
        """After a failure: forget what is in memory, so every projector resumes from its checkpoint."""
        projectors, self._projectors = list(self._projectors.values()), {}
        for projector in projectors:
            # A failed flush was logged by run() already; the checkpoint says where to resume.
            with contextlib.suppress(Exception):
                await projector.flush()

    async def run(self) -> None:
        await install(self.store, self.views)
        while True:
            try:
                processed = await self.run_once()
            except Exception:
                log.exception("projection failed; retrying in 1 s")
                await self._reset()
                await asyncio.sleep(1)
                continue
            if processed == 0:
                await self._idle()

    async def _idle(self) -> None:
        if self.wakeup is None:
            await asyncio.sleep(self.idle_poll)
            return
        # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives just as the
        # wake-up fires, and the runtime would then never stop. asyncio.wait lets it through.
        waiter = asyncio.ensure_future(self.wakeup.wait())
        try:
            await asyncio.wait({waiter}, timeout=self.idle_poll)
        finally:
            waiter.cancel()
        self.wakeup.clear()
