"""Which versions of each view exist, which is live, and how far each has got."""

from __future__ import annotations

from dataclasses import dataclass

from events.log import Log
from projections.live import live_version
from projections.store import Store
from projections.views import View


@dataclass(frozen=True)
class VersionStatus:
    version: int
    live: bool
    lag: dict[str, int]  # "topic:partition" -> events behind the head of the log
    checkpoint: dict[str, int]

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


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
            "versions": [
                {"version": v.version, "live": v.live, "checkpoint": v.checkpoint, "lag": v.lag} for v in self.versions
            ],
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
    result = []
    for view in views:
        live = live_version(view, aliases)
        head = await heads(log, view)
        versions = []
        for version in existing_versions(view, collections):
            lag = await lag_of(store, view, version, head)
            done = await store.checkpoint(view.projection_id(version))
            versions.append(
                VersionStatus(
                    version,
                    version == live,
                    {f"{t}:{p}": n for (t, p), n in sorted(lag.items())},
                    {f"{t}:{p}": done.get((t, p), 0) for (t, p) in sorted(head)},
                )
            )
        result.append(ViewStatus(view.name, live, versions))
    return result
