"""The embedded runtime: reducers follow the local log inside the API's process.

Each view's live version reads every partition of its topics from its
checkpoint, and writes documents and the new checkpoint in one SQLite
transaction, so nothing is applied twice or skipped across a crash.
"""

from __future__ import annotations

import asyncio

import structlog

from events.codec import EventCodec
from events.log import Log
from events.routing import PARTITIONS
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

    async def _heads(self) -> dict[tuple[str, int], int]:
        """Every partition's end offset in one call, so a pass reads only the partitions that grew."""
        partitions = sorted({(t, p) for view in self.views for t in view.topics for p in range(PARTITIONS[t])})
        return await self.log.end_offsets(partitions)

    async def run_once(self) -> int:
        """Process what the log holds beyond each live version's checkpoint; return the event count.

        Returns once every batch is stored: a reader woken by `advanced` finds the documents.
        """
        aliases = await self.store.aliases()
        heads = await self._heads()
        done = 0
        projectors: list[Projector] = []
        for view in self.views:
            version = live_version(view, aliases)
            if version is None:
                continue
            projector = await self._projector(view, version)
            projectors.append(projector)
            offsets = self._offsets[view.name]
            for topic in view.topics:
                for partition in range(PARTITIONS[topic]):
                    if heads.get((topic, partition), 0) > offsets.get((topic, partition), 0):
                        done += await self._follow(projector, topic, partition, offsets)
        for projector in projectors:
            await projector.flush()
        if done:
            self.advanced.set()
            self.advanced = asyncio.Event()
        return done

    async def _follow(self, projector: Projector, topic: str, partition: int, offsets: dict[tuple[str, int], int]) -> int:
        """Feed one partition to the projector, reading the next batch while it folds this one."""
        done = 0
        reading = asyncio.ensure_future(self.log.read(topic, partition, offsets.get((topic, partition), 0), self.batch_size))
        try:
            while entries := await reading:
                end = entries[-1].position.offset + 1
                full = len(entries) == self.batch_size
                if full:
                    reading = asyncio.ensure_future(self.log.read(topic, partition, end, self.batch_size))
                batch = await projector.submit(entries)
                log.info(
                    "batch",
                    projection=projector.projection_id,
                    topic=topic,
                    partition=partition,
                    events=batch.events,
                    writes=batch.writes,
                    ms=batch.ms,
                )
                offsets[(topic, partition)] = end
                done += len(entries)
                if not full:
                    break
        finally:
            reading.cancel()
        return done

    async def _reset(self) -> None:
        """After a failure: forget what is in memory, so every projector resumes from its checkpoint."""
        projectors, self._projectors = list(self._projectors.values()), {}
        for projector in projectors:
            try:
                await projector.flush()
            except Exception:  # already logged by run(); the checkpoint says where to resume
                pass

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
