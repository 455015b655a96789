"""Readiness: the log and the store answer, and every view's live version is running and near the log's head.

`/health/ready` on the API and on a worker's HTTP port asks this. The views' state is the one
`tribe replay status` shows (replay/versions.py): `running` when a runtime heard from in the
last minute feeds the live version and it holds no dead letters; `retrying`, `parked`, `fenced`
or `idle` (no runtime feeds it) are not ready. Its lag is the live version's events behind the
log over all its partitions; more than `max_lag` is not ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from events.log import Log
from projections.store import Store
from projections.views import View
from replay.versions import status

TIMEOUT = 5.0  # seconds the log and the store each have to answer


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether this process can serve; `problems` says, one line each, what is not ready."""

    problems: list[str]
    log: str = "reachable"
    store: str = "reachable"
    views: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {"ready": self.ready, "problems": self.problems, "log": self.log, "store": self.store,
                "views": self.views}


class Health:
    def __init__(self, log: Log, store: Store, views: tuple[View, ...], max_lag: int) -> None:
        self.log = log
        self.store = store
        self.views = views
        self.max_lag = max_lag

    async def ready(self) -> Readiness:
        partitions = sorted({tp for view in self.views for tp in view.partitions()})
        log_problem = await _unreachable(self.log.end_offsets(partitions))
        store_problem = await _unreachable(self.store.aliases())
        if log_problem or store_problem:
            return Readiness(
                [f"{what}: {problem}" for what, problem in (("log", log_problem), ("store", store_problem)) if problem],
                log=log_problem or "reachable",
                store=store_problem or "reachable",
            )
        try:
            async with asyncio.timeout(TIMEOUT):
                views = await status(self.log, self.store, self.views)
        except Exception as exc:
            return Readiness([f"views: their status cannot be read ({_described(exc)})"])
        problems: list[str] = []
        shown: dict[str, dict[str, object]] = {}
        for view in views:
            live = next((v for v in view.versions if v.live), None)
            if live is None:
                problems.append(f"{view.view}: not installed")
                shown[view.view] = {"version": None, "state": "missing", "lag": None}
                continue
            shown[view.view] = {"version": live.version, "state": live.state, "lag": live.total_lag}
            if live.state != "running":
                errors = sorted({r.error for r in live.runners if r.error})
                because = f" ({'; '.join(errors)})" if errors else ""
                letters = f", {live.dead_letters} dead letters" if live.dead_letters else ""
                problems.append(f"{view.view}: v{live.version} is {live.state}{letters}{because}")
            if live.total_lag > self.max_lag:
                problems.append(
                    f"{view.view}: v{live.version} is {live.total_lag} events behind the log (the bound is "
                    f"{self.max_lag})"
                )
        return Readiness(problems, views=shown)


async def _unreachable(call: Awaitable[object]) -> str | None:
    """None if the call answered within TIMEOUT seconds, else what went wrong."""
    try:
        async with asyncio.timeout(TIMEOUT):
            await call
    except Exception as exc:
        return f"unreachable ({_described(exc)})"
    return None


def _described(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    return str(exc) or type(exc).__name__
