"""Which versions of each view exist, which is live, how far each has got, and how the runtimes fare on them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from events.log import Log
from projections.failures import STALE
from projections.fingerprint import fingerprint
from projections.live import live_version
from projections.store import RunnerStatus, Store
from projections.views import View


@dataclass(frozen=True)
class VersionStatus:
    version: int
    live: bool
    lag: dict[str, int]  # "topic:partition" -> events behind the head of the log
    checkpoint: dict[str, int]
    fingerprint: str | None = None  # of the code that builds it (None: not recorded yet)
    this_code: bool = True  # whether the code asking is that code
    runners: list[RunnerStatus] = field(default_factory=list)  # processes heard from within STALE seconds
    dead_letters: int = 0
    parked_since: int | None = None  # the first failure time of its oldest dead letter (ms)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    @property
    def done(self) -> int:
        """Events this version has checkpointed, over every partition it reads."""
        return sum(self.checkpoint.values())

    @property
    def progress(self) -> float:
        """How far it has got towards the head of the log: 1.0 when it has no lag (a rebuild's progress)."""
        total = self.done + self.total_lag
        return self.done / total if total else 1.0

    @property
    def state(self) -> str:
        """retrying (a runner's last attempt failed), parked (it has dead letters), running, fenced (every
        runner heard from runs other code), or idle (no runner heard from)."""
        states = {r.state for r in self.runners}
        if "retrying" in states:
            return "retrying"
        if self.dead_letters:
            return "parked"
        if states & {"running", "parked"}:
            return "running"
        return "fenced" if states else "idle"

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "live": self.live,
            "checkpoint": self.checkpoint,
            "lag": self.lag,
            "done": self.done,
            "progress": self.progress,
            "fingerprint": self.fingerprint,
            "this_code": self.this_code,
            "state": self.state,
            "dead_letters": self.dead_letters,
            "parked_since": self.parked_since,
            "runners": [
                {
                    "runner": r.runner,
                    "state": r.state,
                    "error": r.error,
                    "attempts": r.attempts,
                    "fingerprint": r.fingerprint,
                    "since": r.since,
                    "updated_at": r.updated_at,
                }
                for r in self.runners
            ],
        }


@dataclass(frozen=True)
class ViewStatus:
    view: str
    live_version: int | None
    versions: list[VersionStatus]

    def as_json(self) -> dict[str, object]:
        live = next((v for v in self.versions if v.live), None)
        return {
            "view": self.view,
            "live_version": self.live_version,
            "versions": [v.as_json() for v in self.versions],
            "lag": live.lag if live else {},
        }


def existing_versions(view: View, collections: list[str]) -> list[int]:
    """Versions whose every collection exists."""
    per_alias = []
    for alias in view.collections:
        prefix = f"{alias}_v"
        per_alias.append(
            {int(c[len(prefix) :]) for c in collections if c.startswith(prefix) and c[len(prefix) :].isdigit()}
        )
    return sorted(set.intersection(*per_alias)) if per_alias else []


async def heads(log: Log, view: View) -> dict[tuple[str, int], int]:
    return await log.end_offsets(view.partitions())


async def lag_of(
    store: Store, view: View, version: int, head: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    done = await store.checkpoint(view.projection_id(version))
    return {tp: max(0, end - done.get(tp, 0)) for tp, end in head.items()}


async def status(log: Log, store: Store, views: tuple[View, ...]) -> list[ViewStatus]:
    aliases = await store.aliases()
    collections = await store.collections()
    fingerprints = await store.fingerprints()
    now = int(time.time() * 1000)
    runners: dict[str, list[RunnerStatus]] = {}
    for s in await store.statuses():
        if now - s.updated_at <= STALE * 1000:
            runners.setdefault(s.projection, []).append(s)
    letters: dict[str, list[int]] = {}
    for letter in await store.dead_letters():
        letters.setdefault(letter.projection, []).append(letter.first_failed_at)
    result = []
    for view in views:
        live = live_version(view, aliases)
        head = await heads(log, view)
        versions = []
        for version in existing_versions(view, collections):
            projection = view.projection_id(version)
            lag = await lag_of(store, view, version, head)
            done = await store.checkpoint(projection)
            recorded = fingerprints.get(projection)
            parked = letters.get(projection, [])
            versions.append(
                VersionStatus(
                    version,
                    version == live,
                    {f"{t}:{p}": n for (t, p), n in sorted(lag.items())},
                    {f"{t}:{p}": done.get((t, p), 0) for (t, p) in sorted(head)},
                    recorded,
                    recorded is None or recorded == fingerprint(view),
                    runners.get(projection, []),
                    len(parked),
                    min(parked) if parked else None,
                )
            )
        result.append(ViewStatus(view.name, live, versions))
    return result


class Versions:
    """`status` over one log, store and set of views, for a process that asks again and again (the operator page)."""

    def __init__(self, log: Log, store: Store, views: tuple[View, ...]) -> None:
        self.log = log
        self.store = store
        self.views = views

    async def status(self) -> list[ViewStatus]:
        return await status(self.log, self.store, self.views)


class Throughput:
    """Events per second of each view version: its checkpoint's delta between two samples `every` seconds apart or more.

    A sample is taken on each `rates` call; the rate of a version is that of its last interval
    of at least `every` seconds, None until it has one (a version just found, or a checkpoint
    that went back: a version dropped and built anew).
    """

    def __init__(self, *, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._base: dict[tuple[str, int], tuple[float, int]] = {}  # (view, version) -> (time, events done)
        self._rates: dict[tuple[str, int], float] = {}

    def rates(self, views: Sequence[ViewStatus]) -> dict[tuple[str, int], float | None]:
        now = self.clock()
        seen: dict[tuple[str, int], float | None] = {}
        for view in views:
            for version in view.versions:
                key = (view.view, version.version)
                base = self._base.get(key)
                if base is None or version.done < base[1]:
                    self._base[key] = (now, version.done)
                    self._rates.pop(key, None)
                elif now - base[0] >= self.every:
                    self._rates[key] = (version.done - base[1]) / (now - base[0])
                    self._base[key] = (now, version.done)
                seen[key] = self._rates.get(key)
        for gone in self._base.keys() - seen.keys():
            del self._base[gone]
            self._rates.pop(gone, None)
        return seen
