"""Feeding a view's live version from batches a consumer hands over, with the store as the only state.

A stream consumer (the Kafka engine, the Faust workers) delivers batches of log entries in
partition order but knows nothing of projections: after a crash it redelivers
what it had not committed, after a rebalance another process may have moved a
partition on, and the live version of a view changes when a replay switches
its aliases. `ViewFeeder` squares that with the store, which holds every
projection's checkpoint beside its documents (written together by the one
write path, `Projector.process`):

- an entry below the checkpoint was already applied; it is counted as
  redelivered and not processed again (the versioned write would make it a
  no-op anyway);
- an entry beyond the checkpoint means the consumer's position ran ahead of the
  store (a batch the consumer acknowledged but the store never got, or a new
  live version whose replay stopped earlier); the missing entries are read
  from the log and applied first, so nothing is skipped.

`feed` writes a batch and returns once it is stored. `submit` folds a batch and starts its
write, which runs while the caller fetches and folds the next one (`Projector.submit`); the
batch is stored once the next `submit` or `flush` returned. After a failed write, `forget`
makes the next batch start again from the checkpoint in the store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from events.codec import EventCodec
from events.log import Entry, Log
from projections.live import install, live_version
from projections.processor import Projector
from projections.store import Store
from projections.views import View

log = structlog.get_logger("feeder")

TP = tuple[str, int]


@dataclass(slots=True)
class FeedResult:
    """What one batch did: entries applied, entries already applied before, entries read to fill a gap."""

    processed: int = 0
    redelivered: int = 0
    filled: int = 0
    writes: int = 0
    partitions: set[TP] = field(default_factory=set)


class ViewFeeder:
    def __init__(
        self,
        view: View,
        store: Store,
        codec: EventCodec,
        log: Log,
        *,
        fill_batch: int = 1000,
        alias_refresh: float = 1.0,
    ) -> None:
        self.view = view
        self.store = store
        self.codec = codec
        self.log = log
        self.fill_batch = fill_batch
        self.alias_refresh = alias_refresh
        self.projector: Projector | None = None
        self._next: dict[TP, int] = {}
        self._aliases_read_at = float("-inf")

    async def _live_projector(self) -> Projector:
        now = time.monotonic()
        if self.projector is not None and now - self._aliases_read_at < self.alias_refresh:
            return self.projector
        version = live_version(self.view, await self.store.aliases())
        if version is None:  # a fresh store: install the view, as every runtime may
            version = (await install(self.store, (self.view,)))[self.view.name]
        self._aliases_read_at = now
        if self.projector is None or self.projector.version != version:
            if self.projector is not None:
                await self.projector.flush()  # the old version's last write, before its successor starts
                log.warning("live_version_changed", view=self.view.name, old=self.projector.version, new=version)
            self.projector = Projector(self.store, self.codec, self.view, version)
            self._next.clear()
        return self.projector

    async def prepare(self) -> None:
        """Install the view if the store does not have it yet, and find its live version."""
        self._aliases_read_at = float("-inf")
        await self._live_projector()

    async def _checkpoint(self, projector: Projector) -> dict[TP, int]:
        return await self.store.checkpoint(projector.projection_id)

    async def checkpoint(self) -> dict[TP, int]:
        """The live version's stored next offsets, read from the store now (aliases re-read too)."""
        self._aliases_read_at = float("-inf")
        return await self._checkpoint(await self._live_projector())

    async def feed(self, entries: Sequence[Entry]) -> FeedResult:
        """Apply a batch (entries of any partitions, each partition's in order); return once it is stored."""
        result = await self.submit(entries)
        await self.flush()
        return result

    async def flush(self) -> None:
        """Wait until every submitted batch is stored; raises what a write raised."""
        if self.projector is not None:
            await self.projector.flush()

    async def submit(self, entries: Sequence[Entry]) -> FeedResult:
        """Fold a batch and start its write, once the previous batch's write has finished."""
        result = FeedResult()
        if not entries:
            return result
        projector = await self._live_projector()
        by_tp: dict[TP, list[Entry]] = {}
        for entry in entries:
            by_tp.setdefault((entry.position.topic, entry.position.partition), []).append(entry)
        unknown = [tp for tp, es in by_tp.items() if self._next.get(tp, -1) != es[0].position.offset]
        if unknown:
            await projector.flush()  # the checkpoint must include the write in flight
            stored = await self._checkpoint(projector)
            for tp in unknown:
                self._next[tp] = stored.get(tp, 0)
        fresh: list[Entry] = []
        for tp, tp_entries in by_tp.items():
            expected = self._next[tp]
            for entry in tp_entries:
                offset = entry.position.offset
                if offset < expected:
                    result.redelivered += 1
                    continue
                if offset > expected:
                    missing = await self._read(tp, expected, offset)
                    result.filled += len(missing)
                    fresh.extend(missing)
                fresh.append(entry)
                expected = offset + 1
        if fresh:
            batch = await projector.submit(fresh)
            result.processed = batch.events
            result.writes += batch.writes
            for entry in fresh:
                tp = (entry.position.topic, entry.position.partition)
                self._next[tp] = max(self._next.get(tp, 0), entry.position.offset + 1)
        result.partitions = set(by_tp)
        return result

    async def _read(self, tp: TP, start: int, stop: int) -> list[Entry]:
        """The entries [start, stop) of one partition, read from the log: what the consumer did not hand over."""
        topic, partition = tp
        log.warning("filling_gap", view=self.view.name, topic=topic, partition=partition, start=start, stop=stop)
        entries: list[Entry] = []
        offset = start
        while offset < stop:
            chunk = await self.log.read(topic, partition, offset, min(self.fill_batch, stop - offset))
            if not chunk:
                raise RuntimeError(f"{topic}:{partition} has no entry at {offset}, below the consumer's {stop}")
            entries.extend(chunk)
            offset = chunk[-1].position.offset + 1
        return entries

    def forget(self, tps: Sequence[TP] | None = None) -> None:
        """Drop what is known of these partitions' progress (all if None): re-read the store next time."""
        if tps is None:
            self._next.clear()
        else:
            for tp in tps:
                self._next.pop(tp, None)
