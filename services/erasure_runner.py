"""Runs the erasure (services/erasure.py) over `tribe.users`, on every runtime, like the fan-out runner.

For each `UserErased` beyond its checkpoint (`erasure`) in the store, the runner:

1. destroys the user's data key (again: the API process may have stopped before it did);
2. waits `grace` seconds: a write of that user encoded before the key went, still on its way to
   the log, has landed by then (or never will: the grace exceeds the producer's delivery timeout);
3. waits until the views it reads (those holding the collections of the footprint,
   projections/queries.py `Footprint`) reflect every topic they read as the log then stands,
   reads the user's footprint and appends the events that make those documents forget them;
4. waits until the views reflect the erasure and those events;
5. brings every other version of the views that this code builds (one kept for rollback, one a
   replay builds or left unswitched) up to the head of the log, as `tribe replay rollback` would:
   the runtimes feed only the live version, so a version switched away from a moment before the
   erasure would keep the user's documents. A version other code builds is left to that code (its
   replay folds the erasure before it ends); the `erased` line names it (`unreached`), and
   `tribe replay drop` removes it;
6. expunges the store (Lucene segments, FTS indexes, free pages), and only then stores its
   checkpoint.

One view's fault stays its own: a view whose runner reports it `retrying` (projections/failures.py
`troubled`), and that the erasure does not read, is not waited for in step 4. It folds the
erasure's events from the log when it resumes, and the expunge of a later erasure or rebuild
removes what it held. The `erased` line names those views (`skipped`), and those with dead
letters (`parked`: waited for, since they move on, but a parked key may hold the user's events
until `tribe dlq` retries them). A view the erasure reads is always waited for: deciding from
one that is behind would miss documents that nothing would ever erase.

A crash before the checkpoint decides again, which appends nothing new (the ids derive from the
erasure's). Who runs it: the embedded runtime's process; on Kafka the worker assigned
`tribe.users` (one partition).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

import structlog

from events.catalogue import Event, UserErased
from events.codec import EventCodec, UnknownSchema
from events.log import Log, Position, until_appended
from events.routing import USERS
from events.routing import partitions as partitions_of
from projections.failures import failed_pass, troubled
from projections.live import fenced, live_version
from projections.processor import Projector
from projections.progress import Progress
from projections.store import Checkpoint, Store
from replay.rebuild import catch_up
from replay.versions import existing_versions
from services.erasure import Erasure
from services.writer import append_decisions

log = structlog.get_logger("erasure")

CHECKPOINT = "erasure"
TP = tuple[str, int]


class ErasureRunner:
    def __init__(
        self,
        log: Log,
        store: Store,
        codec: EventCodec,
        erasure: Erasure,
        progress: Progress,
        *,
        owned: Callable[[], Collection[TP]] | None = None,
        grace: float = 5.0,
        wait: float = 60.0,
        idle: float = 0.2,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.log = log
        self.store = store
        self.codec = codec
        self.erasure = erasure
        self.progress = progress
        self.owned = owned
        self.grace = grace
        self.wait = wait
        self.idle = idle
        self.wakeup = wakeup

    async def run_once(self) -> int:
        """Carry out the erasures the owned users partitions hold beyond the checkpoint; return the entries read."""
        mine = [(USERS, p) for p in range(partitions_of(USERS))]
        if self.owned is not None:
            owned = set(self.owned())
            mine = [tp for tp in mine if tp in owned]
        stored = await self.store.checkpoint(CHECKPOINT)
        heads = await self.log.end_offsets(mine)
        starts = {tp: stored.get(tp, 0) for tp in mine if heads.get(tp, 0) > stored.get(tp, 0)}
        if not starts:
            return 0
        read = await self.log.read_many(starts, 200)
        for entries in read.values():
            for entry in entries:
                try:
                    erasing = self.codec.type_name(entry.value) == UserErased.__name__
                except UnknownSchema as exc:  # the views park such bytes (projections/dead_letters.py)
                    log.warning("erasure_undecodable", position=entry.position.token(), error=repr(exc))
                    continue
                if erasing:
                    await self.codec.prepare_to_decode([entry.value])
                    await self._erase(self.codec.decode(entry.value), entry.position)
        offsets = {tp: entries[-1].position.offset + 1 for tp, entries in read.items() if entries}
        await self.store.write([], Checkpoint(CHECKPOINT, offsets))
        return sum(len(entries) for entries in read.values())

    async def _erase(self, erasure: Event, position: Position) -> None:
        started = time.perf_counter()
        await self.codec.ring().destroy(erasure.actor_id)
        await asyncio.sleep(self.grace)
        views = self.progress.views
        read = {v.name for v in views if self.erasure.footprint.collections & v.collections.keys()}
        trouble = await troubled(self.store, views)
        skipped = sorted(name for name, state in trouble.items() if state == "retrying" and name not in read)
        consulted = sorted({tp for v in views if v.name in read for tp in v.partitions()})
        heads = await self.log.end_offsets(consulted)
        reached = [Position(t, p, h - 1) for (t, p), h in heads.items() if h > 0]
        if not await self.progress.wait(reached, self.wait, views=read):
            raise TimeoutError(f"the views it reads ({', '.join(sorted(read))}) did not catch up with the log "
                               f"(in trouble: {trouble or 'none'}): the erasure is tried again")
        decided = await self.erasure.react(erasure)
        appended = await append_decisions(self.log, self.codec, decided)
        fed = {v.name for v in views} - set(skipped)
        if not await self.progress.wait([position, *appended], self.wait, views=fed):
            raise TimeoutError("the views did not apply the erasure's events: it is tried again")
        caught_up, unreached = await self._other_versions()
        await self.store.expunge()
        log.info(
            "erased",
            user=erasure.actor_id,
            events=len(decided),
            skipped=skipped,
            caught_up=caught_up,
            unreached=unreached,
            parked=sorted(name for name, state in trouble.items() if state == "parked"),
            ms=round((time.perf_counter() - started) * 1000),
        )

    async def _other_versions(self) -> tuple[list[str], list[str]]:
        """Bring the versions that are not live and that this code builds up to the log's head; name those
        caught up and those other code builds."""
        aliases = await self.store.aliases()
        collections = await self.store.collections()
        caught_up: list[str] = []
        unreached: list[str] = []
        for view in self.progress.views:
            live = live_version(view, aliases)
            for version in existing_versions(view, collections):
                if version == live:
                    continue
                if await fenced(self.store, view, version) is not None:
                    unreached.append(f"{view.name} v{version}")
                    continue
                await catch_up(self.log, Projector(self.store, self.codec, view, version))
                caught_up.append(f"{view.name} v{version}")
        return caught_up, unreached

    async def run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except Exception as exc:  # the log, the store, a view that lags: the checkpoint says where to start again
                failed_pass(log, "erasure", exc)
                await asyncio.sleep(1)
                continue
            if not done:
                await until_appended(self.wakeup, self.idle, pace=self.idle)
