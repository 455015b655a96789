"""Build a view's next version from offset 0 beside the live one, then switch its aliases atomically.

The rebuild feeds `Projector`, the same write path the live runtimes use, so a
rebuilt document is exactly what live processing would have written. The live
version keeps serving and keeps being fed (by `tribe serve` or `tribe worker`)
until the switch; the runtimes follow the aliases, so after the switch they feed
the new version, those running this code: a version records the fingerprint of the code
that builds it (projections/fingerprint.py) when the rebuild creates it, and a runtime
running other code leaves it alone. Old versions stay until dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.codec import EventCodec
from events.log import Log
from projections.live import fenced, live_version
from projections.processor import Projector
from projections.store import Query, Store
from projections.views import View
from replay.versions import existing_versions, heads, lag_of


class ReplayError(RuntimeError):
    """The request cannot be carried out (unknown version, dropping the live one, ...)."""


TP = tuple[str, int]
Helper = Callable[[View, int, list[TP]], Awaitable[int]]
"""Catches a version of a view up on some partitions elsewhere (another process); returns the events applied.

Documents are fed by single partitions, so disjoint sets of partitions can be replayed at once
by separate processes into the same store; each writes only its partitions' checkpoints.
"""


@dataclass(frozen=True)
class Tick:
    """Progress of a rebuild: events done of the total known so far."""

    done: int
    total: int
    rate: float

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class Difference:
    collection: str
    doc_id: str
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None
    live_version: int | None = None
    rebuilt_version: int | None = None

    @property
    def settled(self) -> bool:
        """Both sides reflect the same events, so the difference is the code's, not a write in flight."""
        return self.live_version == self.rebuilt_version

    @property
    def live_ahead(self) -> bool:
        """The live side holds an event the rebuild has not read yet: not comparable this round."""
        return self.live_version is not None and (
            self.rebuilt_version is None or self.live_version > self.rebuilt_version
        )


@dataclass
class RebuildResult:
    view: str
    version: int
    previous: int | None
    events: int
    seconds: float
    switched: bool
    differences: list[Difference] | None = field(default=None)


async def catch_up(
    log: Log,
    projector: Projector,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
    partitions: Collection[TP] | None = None,
) -> int:
    """Feed the projector until its checkpoint reaches the head of the log on every partition (or these)."""
    view = projector.view
    done = 0
    try:
        while True:
            head = await heads(log, view)
            if partitions is not None:
                head = {tp: end for tp, end in head.items() if tp in partitions}
            lag = await lag_of(projector.store, view, projector.version, head)
            if not any(lag.values()):
                return done
            checkpoint = await projector.store.checkpoint(projector.projection_id)
            for (topic, partition), end in head.items():
                offset = checkpoint.get((topic, partition), 0)
                while offset < end:
                    # Pipelined: this batch's fold overlaps the previous batch's write (Projector.submit).
                    entries = await log.read(topic, partition, offset, min(batch_size, end - offset))
                    if not entries:
                        break
                    await projector.submit(entries)
                    offset = entries[-1].position.offset + 1
                    done += len(entries)
                    if on_batch is not None:
                        on_batch(len(entries))
            await projector.flush()
    except BaseException:
        # Failed or cancelled: let the write in flight finish before the caller closes the store.
        with contextlib.suppress(Exception):
            await projector.flush()
        raise


async def all_docs(store: Store, collection: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every document of a collection: id -> (version, body)."""
    query = Query(sort=(("id", "asc"),), size=1000, with_total=False)
    return {d.id: (d.version, d.body) async for d in store.every(collection, query)}


async def compare(store: Store, view: View, live: int, rebuilt: int) -> list[Difference]:
    """Documents that differ between two versions of a view."""
    differences = []
    for alias in view.collections:
        a = await all_docs(store, view.physical(alias, live))
        b = await all_docs(store, view.physical(alias, rebuilt))
        for doc_id in sorted(set(a) | set(b)):
            left, right = a.get(doc_id), b.get(doc_id)
            if (left and left[1]) != (right and right[1]):
                differences.append(
                    Difference(
                        alias,
                        doc_id,
                        left and left[1],
                        right and right[1],
                        left[0] if left else None,
                        right[0] if right else None,
                    )
                )
    return differences


async def _settled_differences(
    log: Log, store: Store, projector: Projector, live: int, *, rounds: int = 20, wait: float = 3.0
) -> list[Difference]:
    """Differences between the live and the rebuilt version once both reflect the same events.

    The live version is fed by another process and may trail the rebuild (or, with new writes,
    lead it). Each round brings the rebuild to the head, waits for the live version to reach the
    rebuild's checkpoint, and compares. A difference at equal document versions is the code's.
    A document the live side has changed since (a write newer than the rebuild's cut, which the
    rebuild applies next) is left out of this round. A rebuilt document ahead of the live one
    is the live side trailing, so the round is repeated. What remains after the last round is
    reported as it is.
    """
    view = projector.view
    differences: list[Difference] = []
    for _ in range(rounds):
        await catch_up(log, projector)
        target = await store.checkpoint(projector.projection_id)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reached = await store.checkpoint(view.projection_id(live))
            if all(reached.get(tp, 0) >= offset for tp, offset in target.items()):
                break
            await asyncio.sleep(0.05)
        differences = [d for d in await compare(store, view, live, projector.version) if not d.live_ahead]
        if all(d.settled for d in differences):
            return differences
        await asyncio.sleep(0.1)
    return differences


async def rebuild(
    log: Log,
    store: Store,
    codec: EventCodec,
    view: View,
    *,
    version: int | None = None,
    verify: bool = False,
    switch: bool = True,
    on_tick: Callable[[Tick], None] | None = None,
    helpers: Sequence[Helper] = (),
) -> RebuildResult:
    """Build (or continue) a version of `view`, then switch to it if asked and verification allows.

    With helpers, the bulk of the log is replayed by this process and the helpers at once, each
    on its share of the partitions; the rest (what arrived meanwhile) by this process alone.
    """
    started = time.monotonic()
    aliases = await store.aliases()
    live = live_version(view, aliases)
    existing = existing_versions(view, await store.collections())
    target = version if version is not None else max([*existing, live or 0, 0]) + 1
    if target == live:
        raise ReplayError(f"version {target} of {view.name} is live already; rebuild into a new version")
    await _this_code(store, view, target)
    projector = Projector(store, codec, view, target)
    await projector.ensure_collections()

    head = await heads(log, view)
    checkpoint = await store.checkpoint(projector.projection_id)
    total = sum(head.values())
    done = sum(checkpoint.get(tp, 0) for tp in head)
    progress = {"done": done, "total": total}

    def count(n: int) -> None:
        progress["done"] += n
        if on_tick is not None:
            elapsed = time.monotonic() - started
            progress["total"] = max(progress["total"], progress["done"])
            on_tick(Tick(progress["done"], progress["total"], (progress["done"] - done) / elapsed if elapsed else 0.0))

    events = await _in_parallel(log, projector, helpers, count) if helpers else 0
    events += await catch_up(log, projector, on_batch=count)
    differences = None
    if verify and live is not None:
        differences = await _settled_differences(log, store, projector, live)
    switched = False
    if switch and not differences:
        await store.set_aliases(view.targets(target))
        switched = True
        events += await catch_up(log, projector, on_batch=count)
    # An erasure that ran meanwhile expunged the store once the live versions forgot the user; this
    # version forgot them later: what its documents held before is expunged now (services/erasure_runner.py).
    await store.expunge()
    return RebuildResult(view.name, target, live, events, time.monotonic() - started, switched, differences)


async def _in_parallel(log: Log, projector: Projector, helpers: Sequence[Helper], count: Callable[[int], None]) -> int:
    """Split the lagging partitions between this process and the helpers, by lag; replay all shares at once."""
    view = projector.view
    head = await heads(log, view)
    done = await projector.store.checkpoint(projector.projection_id)
    lagging = sorted(((end - done.get(tp, 0), tp) for tp, end in head.items() if end > done.get(tp, 0)), reverse=True)
    shares: list[list[TP]] = [[] for _ in range(len(helpers) + 1)]
    loads = [0] * len(shares)
    for lag, tp in lagging:
        lightest = loads.index(min(loads))
        shares[lightest].append(tp)
        loads[lightest] += lag

    async def helped(helper: Helper, share: list[TP]) -> int:
        applied = await helper(view, projector.version, share)
        count(applied)
        return applied

    # A task group: if one share fails, the others are cancelled and waited for before it raises.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(catch_up(log, projector, on_batch=count, partitions=set(shares[0])))]
        tasks += [group.create_task(helped(h, share)) for h, share in zip(helpers, shares[1:]) if share]
    return sum(t.result() for t in tasks)


async def rollback(log: Log, store: Store, codec: EventCodec, view: View) -> tuple[int, int]:
    """Point the view back at the newest version older than the live one, caught up first."""
    live = live_version(view, await store.aliases())
    if live is None:
        raise ReplayError(f"{view.name} is not installed")
    older = [v for v in existing_versions(view, await store.collections()) if v < live]
    if not older:
        raise ReplayError(f"{view.name} has no version older than the live one ({live}) to roll back to")
    previous = older[-1]
    await _this_code(store, view, previous)
    projector = Projector(store, codec, view, previous)
    await catch_up(log, projector)
    await store.set_aliases(view.targets(previous))
    await catch_up(log, projector)
    return live, previous


async def drop(store: Store, view: View, version: int) -> None:
    """Delete a version that is not live, with its checkpoint."""
    live = live_version(view, await store.aliases())
    if version == live:
        raise ReplayError(f"version {version} of {view.name} is live; switch away from it before dropping it")
    if version not in existing_versions(view, await store.collections()):
        raise ReplayError(f"{view.name} has no version {version}")
    for alias in view.collections:
        await store.drop_collection(view.physical(alias, version))
    await store.drop_checkpoint(view.projection_id(version))
    await store.drop_records(view.projection_id(version))


async def _this_code(store: Store, view: View, version: int) -> None:
    """Record this code as the one that builds the version, unless other code does: then refuse."""
    theirs = await fenced(store, view, version)
    if theirs is not None:
        raise ReplayError(
            f"version {version} of {view.name} is built by other code (fingerprint {theirs}); "
            "run this command with that code, or rebuild into a new version"
        )
