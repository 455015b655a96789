"""Feeding a view's live version from batches a runtime hands over, with the store as the only state.

Every runtime (the embedded runtime, the Kafka engine, the Faust workers) feeds each view
through a `ViewFeeder`. A consumer delivers batches of log entries in partition order but
knows nothing of projections: after a crash it redelivers what it had not committed, after a
rebalance another process may have moved a partition on, and the live version of a view
changes when a replay switches its aliases. `ViewFeeder` squares that with the store, which
holds every projection's checkpoint beside its documents (written together by the one write
path, `Projector.process`):

- an entry below the checkpoint was already applied; it is counted as
  redelivered and not processed again (the versioned write would make it a
  no-op anyway);
- an entry beyond the checkpoint means the consumer's position ran ahead of the
  store (a batch the consumer acknowledged but the store never got, or a new
  live version whose replay stopped earlier); the missing entries are read
  from the log and applied first, so nothing is skipped (of a gap wider than
  `fill_batch`, that many; `tick` reads the rest, `fill_batch` at a time);
- the live version is fed only if it is built by this code (its fingerprint is this
  process's: projections/live.py `fenced`); otherwise the feeder leaves it alone and says so;
- entries of a key with dead letters are parked behind them (projections/dead_letters.py).

`feed` writes a batch and returns once it is stored. `submit` folds a batch and starts its
write, which runs while the caller fetches and folds the next one (`Projector.submit`); the
batch is stored once the next `submit` or `flush` returned. Both raise what failed; after a
failure, `failed` makes the next batch start again from the checkpoint in the store.

`offer` is what every runtime calls: it never raises for a failure
of this view. A failure is counted by the view's `Guard` (projections/failures.py), and the
view sits out its backoff while the caller feeds the others; what it is handed meanwhile it
reads again from the log when it resumes (`tick` catches it up even if nothing more arrives).
After the last retry of a failure that is its events' fault, the next attempt isolates them
and parks them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from events.codec import EventCodec
from events.log import Entry, Log
from projections.dead_letters import Parking, isolate, replay_sequence
from projections.failures import Guard, Retry, this_process
from projections.fingerprint import fingerprint
from projections.live import fenced, install, live_version
from projections.metrics import ProjectionMetrics
from projections.processor import Projector
from projections.store import Store
from projections.views import View

log = structlog.get_logger("feeder")

TP = tuple[str, int]
Batch = Mapping[TP, Sequence[Entry]]
"""Entries by partition, each partition's in order."""


def by_partition(entries: Sequence[Entry]) -> dict[TP, list[Entry]]:
    batch: dict[TP, list[Entry]] = {}
    for entry in entries:
        batch.setdefault((entry.position.topic, entry.position.partition), []).append(entry)
    return batch


@dataclass(slots=True)
class FeedResult:
    """What one batch did: entries applied, already applied before, read to fill a gap, parked, left alone."""

    processed: int = 0
    redelivered: int = 0
    filled: int = 0
    writes: int = 0
    parked: int = 0
    partitions: set[TP] = field(default_factory=set)

    @property
    def handled(self) -> int:
        """Entries this batch settled: applied or parked."""
        return self.processed + self.parked

    def add(self, other: FeedResult) -> None:
        """Count another batch's work in this one (a catch-up made of several batches)."""
        self.processed += other.processed
        self.redelivered += other.redelivered
        self.filled += other.filled
        self.writes += other.writes
        self.parked += other.parked
        self.partitions |= other.partitions


def log_batch(
    metrics: ProjectionMetrics,
    feeder: ViewFeeder,
    result: FeedResult,
    delivered: int,
    seconds: float,
    **context: object,
) -> None:
    """A batch offered to one view: its metrics and the canonical `projected` line (every runtime's), which
    names the view and the version it feeds. `delivered`: the entries the runtime handed over."""
    view = feeder.view.name
    metrics.batch(view, applied=result.processed, parked=result.parked, seconds=seconds)
    log.info(
        "projected",
        view=view,
        projection=feeder.guard.projection,
        **context,
        delivered=delivered,
        processed=result.processed,
        redelivered=result.redelivered,
        filled=result.filled,
        parked=result.parked,
        writes=result.writes,
        partitions=len(result.partitions),
        ms=round(seconds * 1000, 2),
    )


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
        retry: Retry | None = None,
        runner: str | None = None,
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        self.view = view
        self.store = store
        self.codec = codec
        self.log = log
        self.fill_batch = fill_batch
        self.alias_refresh = alias_refresh
        self.guard = Guard(store, runner or this_process(), fingerprint(view), retry or Retry())
        self.metrics = metrics or ProjectionMetrics()
        self.projector: Projector | None = None
        self.parking: Parking | None = None
        self.fenced_by: str | None = None  # the fingerprint of the code that builds the live version, if not ours
        self._version: int | None = None
        self._next: dict[TP, int] = {}  # the next offset to apply, per partition
        self._durable: dict[TP, int] = {}  # the next offset stored with the documents, per partition
        self._delivered: dict[TP, int] = {}  # the next offset after what the consumer handed over, per partition
        self._in_flight: dict[TP, int] = {}  # the ends of the batch whose write is in flight
        self._aliases_read_at = float("-inf")
        self._finding = asyncio.Lock()  # held while the live version is found (_live_projector)
        self.turn = asyncio.Lock()
        """Held by a runtime that feeds the view from several tasks (Faust: an agent per topic) while one feeds:
        a batch of one topic must not run while a failure of the other resets the positions it feeds from."""

    # -- the live version --------------------------------------------------------------------

    async def _live_projector(self) -> Projector | None:
        """The projector of the live version; None while that version is built by other code (fenced).

        One task at a time finds it: a runtime asks from several (Faust: an agent per topic, the
        start's `prepare`, the timer's `tick`), and a task that found a version still being
        followed (installed, its fence read) would take the missing projector for a fence, drop
        its batch, and leave the view behind until its partitions receive another event.
        """
        if self._fresh():
            return self.projector
        async with self._finding:
            if self._fresh():  # found by the task this one waited for
                return self.projector
            now = time.monotonic()
            version = live_version(self.view, await self.store.aliases())
            if version is None:  # a fresh store: install the view, as every runtime may
                version = (await install(self.store, (self.view,)))[self.view.name]
            if version != self._version:
                await self._follow(version)
            self._aliases_read_at = now
            return self.projector

    def _fresh(self) -> bool:
        return self._version is not None and time.monotonic() - self._aliases_read_at < self.alias_refresh

    async def _follow(self, version: int) -> None:
        if self.projector is not None:
            await self.projector.flush()  # the old version's last write, before its successor starts
        if self._version is not None:
            log.warning("live_version_changed", view=self.view.name, old=self._version, new=version)
        self._next.clear()
        self._durable.clear()
        self._in_flight = {}
        projection = self.view.projection_id(version)
        self.guard.follow(projection)
        self.fenced_by = await fenced(self.store, self.view, version)
        if self.fenced_by is not None:
            log.warning("fenced", view=self.view.name, version=version, built_by=self.fenced_by,
                        this_code=self.guard.fingerprint)
            self.projector = self.parking = None
        else:
            self.projector = Projector(self.store, self.codec, self.view, version)
            # This code's collections as this code specifies them: on an embedded store, an index a newer
            # release adds (CollectionSpec.compound) is made for the version it goes on feeding.
            await self.projector.ensure_collections()
            self.parking = Parking(self.store, projection)
            await self.parking.refresh(now=True)
        self._version = version  # last: should a step above fail, the next call follows the version again
        await self.report()

    async def prepare(self) -> None:
        """Install the view if the store does not have it yet, and find its live version."""
        self._aliases_read_at = float("-inf")
        await self._live_projector()

    async def ready(self) -> bool:
        """Whether the live version is this code's to feed and no backoff holds this view back."""
        return await self._live_projector() is not None and self.guard.ready()

    async def report(self) -> None:
        """Tell the store how this view fares in this process (on a change, or as a heartbeat)."""
        if self.fenced_by is not None:
            await self.guard.report("fenced", f"v{self._version} is built by code {self.fenced_by}, "
                                              f"this process runs {self.guard.fingerprint}")
        elif self.guard.attempts:
            return  # reported as retrying by `failed`
        elif self.parking is not None and self.parking.keys:
            await self.guard.report("parked", self.parking.last_cause)
        else:
            await self.guard.report("running")

    # -- positions ---------------------------------------------------------------------------

    async def checkpoint(self) -> dict[TP, int]:
        """The live version's stored next offsets, read from the store now (aliases re-read too)."""
        self._aliases_read_at = float("-inf")
        await self._live_projector()
        assert self._version is not None
        return await self.store.checkpoint(self.view.projection_id(self._version))

    async def positions(self) -> dict[TP, int]:
        """The next offset to apply of every partition the view reads (the checkpoint's where not known)."""
        unknown = [tp for tp in self.view.partitions() if tp not in self._next]
        if unknown:
            await self._learn(unknown)
        return dict(self._next)

    async def _learn(self, tps: Sequence[TP]) -> None:
        """Where these partitions stand, from the store (after the write in flight: it may move them)."""
        await self.flush()
        assert self._version is not None
        stored = await self.store.checkpoint(self.view.projection_id(self._version))
        for tp in tps:
            self._next[tp] = self._durable[tp] = stored.get(tp, 0)

    def handed(self, tp: TP) -> int | None:
        """The offset after what the consumer handed over of the partition (or the view was owed), if any."""
        return self._delivered.get(tp)

    def durable(self, tp: TP) -> int | None:
        """The next offset of the partition whose documents are stored, if known."""
        return self._durable.get(tp)

    # -- feeding -----------------------------------------------------------------------------

    async def feed(self, entries: Sequence[Entry], *, isolating: bool = False) -> FeedResult:
        """Apply a batch (entries of any partitions, each partition's in order); return once it is stored.

        `isolating`: write it in parts, parking the events that fail on their own (dead_letters.isolate).
        """
        return await self._feed(by_partition(entries), isolating)

    async def _feed(self, batch: Batch, isolating: bool) -> FeedResult:
        result = await self._submit(batch, isolating)
        await self.flush()
        return result

    async def flush(self) -> None:
        """Wait until every submitted batch is stored; raises what a write raised."""
        if self.projector is not None:
            await self.projector.flush()
        self._durable.update(self._in_flight)
        self._in_flight = {}

    async def submit(self, entries: Sequence[Entry], *, isolating: bool = False) -> FeedResult:
        """Fold a batch and start its write, once the previous batch's write has finished."""
        return await self._submit(by_partition(entries), isolating)

    async def _submit(self, by_tp: Batch, isolating: bool) -> FeedResult:
        result = FeedResult()
        by_tp = {tp: tp_entries for tp, tp_entries in by_tp.items() if tp_entries}
        if not by_tp:
            return result
        projector = await self._live_projector()
        if projector is None or self.parking is None:  # fenced: another code's version
            return result
        delivered = self._delivered
        for tp, tp_entries in by_tp.items():
            delivered[tp] = max(delivered.get(tp, 0), tp_entries[-1].position.offset + 1)
        unknown = [tp for tp, es in by_tp.items() if self._next.get(tp, -1) != es[0].position.offset]
        if unknown:
            await self._learn(unknown)
        fresh: list[Entry] = []
        ends: dict[TP, int] = {}
        for tp, tp_entries in by_tp.items():
            expected = self._next[tp]
            first, last = tp_entries[0].position.offset, tp_entries[-1].position.offset
            if first == expected and last - first + 1 == len(tp_entries):
                fresh += tp_entries  # the usual case: the batch follows on, without a hole
                expected = tp_entries[-1].position.offset + 1
            else:
                for entry in tp_entries:
                    offset = entry.position.offset
                    if offset < expected:
                        result.redelivered += 1
                        continue
                    if offset > expected:
                        missing = await self._read(tp, expected, offset)
                        result.filled += len(missing)
                        fresh.extend(missing)
                        expected = missing[-1].position.offset + 1
                        if expected < offset:  # a wide gap: its rest, and the batch after it, are caught up by `tick`
                            break
                    fresh.append(entry)
                    expected = offset + 1
            if expected != self._next[tp]:
                ends[tp] = expected
        result.partitions = set(by_tp)
        if not fresh:
            return result
        fed, behind = self.parking.split(fresh)
        if behind:
            await self.parking.park_behind(behind)
        if isolating:
            await self.flush()
            done = await isolate(
                projector, fed, self.parking, attempts=self.guard.attempts, first_failed_at=self.guard.first_failed_at
            )
            result.processed, result.writes, result.parked = done.applied, done.writes, done.parked + len(behind)
            self._durable.update(ends)
        else:
            batch = await projector.submit(fed, behind)
            result.processed, result.writes, result.parked = batch.events, batch.writes, len(behind)
            self._durable.update(self._in_flight)
            self._in_flight = ends
        self._next.update(ends)
        return result

    async def _read(self, tp: TP, start: int, stop: int) -> list[Entry]:
        """The first entries of [start, stop) of one partition, at most `fill_batch`, read from the log: what the
        consumer did not hand over. Every catch-up reads through here, so none holds more of a partition at once."""
        topic, partition = tp
        log.warning("filling_gap", view=self.view.name, topic=topic, partition=partition, start=start, stop=stop)
        entries = await self.log.read(topic, partition, start, min(self.fill_batch, stop - start))
        if not entries:
            raise RuntimeError(f"{topic}:{partition} has no entry at {start}, below the consumer's {stop}")
        return entries

    def forget(self, tps: Sequence[TP] | None = None) -> None:
        """Drop what is known of these partitions (all if None): they moved; re-read the store next time."""
        for known in (self._next, self._durable, self._delivered, self._in_flight):
            if tps is None:
                known.clear()
            else:
                for tp in tps:
                    known.pop(tp, None)

    def owe(self, starts: Mapping[TP, int]) -> None:
        """Partitions newly assigned, at the offsets the consumer starts them from: a tick catches the view up to them.

        For a consumer that starts where its group committed rather than where the store is (Faust):
        the group's offsets can pass what a view had stored when it was failing, and without this the
        view would wait, behind, for each partition's next event to fill the gap.
        """
        owed = {tp: max(at, self._delivered.get(tp, 0)) for tp, at in starts.items() if tp[0] in self.view.topics}
        self.forget(list(owed))
        self._delivered.update(owed)  # never less than was handed over: a consumer can run ahead of its commits

    # -- failures ----------------------------------------------------------------------------

    async def failed(self, exc: BaseException) -> None:
        """After a failed batch: let the write in flight end, resume from the store's checkpoint next time,
        count the attempt (the guard sets the backoff the view sits out)."""
        try:
            await self.flush()
        except Exception as other:  # the failure being handled, or another one: the checkpoint tells
            log.warning("write_failed", view=self.view.name, error=repr(other))
        self._next.clear()
        self._durable.clear()
        self._in_flight = {}
        delay = await self.guard.failed(exc)
        self.metrics.retried(self.view.name)
        log.warning("batch_failed_retrying", view=self.view.name, attempt=self.guard.attempts, delay=delay,
                    isolating=self.guard.isolating, error=repr(exc))

    async def recovered(self) -> None:
        """The batch after failures is stored: report the view running (or parked) again."""
        if self.guard.attempts:
            self.guard.recovered()
            await self.report()

    async def offer(self, entries: Sequence[Entry]) -> FeedResult:
        """`submit`, or while the view is recovering `feed` (isolating when its guard says so); never raises.

        A failure is counted and the entries dropped: the view sits out its backoff and then reads
        them again from the log, from its checkpoint.
        """
        return await self.offer_batch(by_partition(entries))

    async def offer_batch(self, batch: Batch) -> FeedResult:
        """`offer` of entries grouped by partition already."""
        if not self.guard.ready():
            self._note(batch)
            return FeedResult()
        guard = self.guard
        try:
            if guard.attempts:
                result = await self._feed(batch, guard.isolating)
                await self.recovered()
            else:
                result = await self._submit(batch, False)
        except Exception as exc:
            self._note(batch)
            await self.failed(exc)
            return FeedResult()
        if result.parked:
            await self.report()
        return result

    async def settle(self) -> None:
        """`flush`, never raising: a failed write is counted, as in `offer`."""
        try:
            await self.flush()
        except Exception as exc:
            await self.failed(exc)

    def _note(self, batch: Batch) -> None:
        """Entries dropped: the offset after them is how far the view must catch up."""
        delivered = self._delivered
        for tp, entries in batch.items():
            if entries:
                delivered[tp] = max(delivered.get(tp, 0), entries[-1].position.offset + 1)

    async def tick(self) -> FeedResult:
        """Between batches: re-read the parked keys (replaying those released), report, and apply what
        was handed over while the view sat out a backoff, or is owed (`owe`). Never raises.

        What the catch-up applies or parks is counted and logged as a batch is (`log_batch`): after a
        backoff it is often the tick, not the next batch, that parks the events at fault.
        """
        result = FeedResult()
        started = time.perf_counter()
        try:
            projector = await self._live_projector()
            if projector is not None and self.parking is not None:
                await self.parking.refresh()
                orphans, self.parking.orphans = self.parking.orphans, []
                for letters in orphans:
                    log.info("replaying_released_key", view=self.view.name, key=letters[0].key, events=len(letters))
                    replayed = await replay_sequence(
                        self.log, Projector(self.store, self.codec, self.view, projector.version), letters
                    )
                    if replayed.left_behind:
                        log.warning("shared_documents_left_behind", view=self.view.name,
                                    collections=list(replayed.left_behind), rebuild=f"tribe replay {self.view.name}")
                if orphans:
                    await self.parking.refresh(now=True)
                result = await self._catch_up()
            await self.report()
        except Exception as exc:
            await self.failed(exc)
        if result.handled:  # read from the log by the feeder itself: nothing was handed over
            log_batch(self.metrics, self, result, 0, time.perf_counter() - started, tick=True)
        return result

    async def _catch_up(self) -> FeedResult:
        """Apply what was handed over and not applied, read again from the log in batches of at most
        `fill_batch` entries a partition: a view that sat out minutes of a busy topic is not read into
        memory, nor written, at once. Stops when caught up or when a batch fails (`offer` counts it)."""
        caught = FeedResult()
        while self.guard.ready():
            owed = [tp for tp, end in self._delivered.items() if self._next.get(tp, -1) < end]
            unknown = [tp for tp in owed if tp not in self._next]
            if unknown:  # `_learn` waits for the write in flight, which a tick with nothing owed leaves running
                await self._learn(unknown)
            missing: list[Entry] = []
            for tp in owed:
                start, end = self._next[tp], self._delivered[tp]
                if start < end:
                    missing += await self._read(tp, start, end)
            if not missing:
                break
            applied = await self.offer(missing)
            caught.add(applied)
            if not applied.handled:
                break
        return caught
