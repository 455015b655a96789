"""What a runtime does when a view fails: retry it with backoff while the other views go on, and say so.

Every runtime feeds each view through its own `ViewFeeder` (projections/feeder.py), whose
`Guard` keeps that view's attempts and backoff. A failing view sits out its backoff, `retries`
times (`backoff` seconds, doubling, at most `ceiling` apart); the others keep being fed. When
the failure is its events' fault (projections/dead_letters.py `is_poison`), the attempt after
the last retry isolates those events and parks them; any other failure (a store that is down)
is retried for as long as it lasts. The guard writes the view's status to the store (a
`RunnerStatus` per projection version and process: running, retrying, parked or fenced, with
the error), on every change and every `HEARTBEAT` seconds, so `tribe replay status` in another
process sees it, and the erasure runner knows which views not to wait for (`troubled`).

A worker still stops (exit code 70, `die`) on what no view's retry can mend: its checkpoints
cannot be read when partitions are assigned, or a Faust agent fails outside its views' feeders.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import structlog

from events.log import LogUnavailable
from projections.dead_letters import cause_of, is_poison, now_ms
from projections.live import live_version
from projections.store import RunnerState, RunnerStatus, Store, StoreUnavailable
from projections.views import View

log = structlog.get_logger("worker")

EXIT_PROJECTION_FAILED = 70  # EX_SOFTWARE
HEARTBEAT = 15.0  # seconds between status writes of a view whose state does not change
STALE = 60.0  # a runner not heard from for this long is gone (`tribe replay status` leaves it out)
FORGOTTEN = 3600.0  # a runner not heard from for this long has its status removed


class ProjectionFailed(RuntimeError):
    """A worker cannot go on (`view` names what failed); nothing after it may be acknowledged."""

    def __init__(self, view: str, cause: BaseException) -> None:
        super().__init__(f"{view}: {cause!r}")
        self.view = view
        self.cause = cause


def die(view: str, exc: BaseException) -> NoReturn:
    """Stop the process now: nothing after this point may acknowledge the failed batch."""
    log.critical("projection_failed_stopping_worker", view=view, error=repr(exc), exc_info=exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_PROJECTION_FAILED)


def this_process() -> str:
    """A runner's name when it has none of its own: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Retry:
    """How a failing view is retried: `retries` attempts `backoff` seconds apart, doubling, at most `ceiling`."""

    retries: int = 4
    backoff: float = 0.5
    ceiling: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.ceiling, self.backoff * 2.0 ** max(0, attempt - 1))


class Guard:
    """One view's failures in one runtime process, and the status it reports for the version it follows."""

    def __init__(self, store: Store, runner: str, fingerprint: str, retry: Retry) -> None:
        self.store = store
        self.runner = runner
        self.fingerprint = fingerprint
        self.retry = retry
        self.projection: str | None = None
        self.attempts = 0
        self.first_failed_at = 0
        self.isolating = False  # the next attempt isolates the events at fault
        self._next_at = 0.0
        self._error: str | None = None
        self._reported: tuple[RunnerState, str | None] | None = None
        self._reported_at = float("-inf")
        self._since = 0

    def follow(self, projection: str) -> None:
        """A new live version: what failed on the old one is not this one's."""
        if projection != self.projection:
            self.projection = projection
            self.attempts, self.isolating, self._next_at, self._error = 0, False, 0.0, None
            self._reported = None

    def ready(self) -> bool:
        """Whether the backoff of the last failure is over."""
        return time.monotonic() >= self._next_at

    async def failed(self, exc: BaseException) -> float:
        """Count a failed attempt; return the seconds to wait before the next one (0: isolate at once)."""
        self.attempts += 1
        if self.attempts == 1:
            self.first_failed_at = now_ms()
        self._error = cause_of(exc)
        self.isolating = is_poison(exc) and self.attempts > self.retry.retries
        delay = 0.0 if self.isolating else self.retry.delay(self.attempts)
        self._next_at = time.monotonic() + delay
        await self.report("retrying", self._error)
        return delay

    def recovered(self) -> None:
        self.attempts, self.isolating, self._next_at, self._error = 0, False, 0.0, None

    async def report(self, state: RunnerState, error: str | None = None) -> None:
        """Write the status if it changed or `HEARTBEAT` seconds passed; a store that fails it is logged, not raised."""
        if self.projection is None:
            return
        clock = time.monotonic()
        if (state, error) == self._reported and clock - self._reported_at < HEARTBEAT and state != "retrying":
            return
        at = now_ms()
        if self._reported is None or self._reported[0] != state:
            self._since = at
        status = RunnerStatus(
            self.projection, self.runner, state, self.fingerprint, self._since, at, error, self.attempts
        )
        try:
            if self._reported is None:
                await self._forget_the_gone(at)
            await self.store.put_status(status)
        except Exception as exc:  # the status is for people; the store will be retried with the next batch
            log.warning("status_not_written", projection=self.projection, state=state, error=repr(exc))
            return
        self._reported, self._reported_at = (state, error), clock

    async def _forget_the_gone(self, at: int) -> None:
        gone = [
            s.runner
            for s in await self.store.statuses()
            if s.projection == self.projection and at - s.updated_at > FORGOTTEN * 1000
        ]
        if gone:
            await self.store.remove_statuses(self.projection or "", gone)


async def troubled(store: Store, views: Sequence[View]) -> dict[str, RunnerState]:
    """The views whose live version a runner heard from within `STALE` seconds reports in trouble, and how.

    `retrying`: its checkpoint stands still until the failure ends. `parked`: it moves on, and
    the keys with dead letters wait for `tribe dlq` (projections/dead_letters.py). Where its
    runners differ, `retrying` wins, as in `tribe replay status`.
    """
    aliases = await store.aliases()
    live = {view.projection_id(v): view.name for view in views if (v := live_version(view, aliases)) is not None}
    heard_since = now_ms() - STALE * 1000
    found: dict[str, RunnerState] = {}
    for status in await store.statuses():
        name = live.get(status.projection)
        if name is None or status.updated_at < heard_since or status.state not in ("retrying", "parked"):
            continue
        if found.get(name) != "retrying":
            found[name] = status.state
    return found


def failed_pass(logger: Any, loop: str, exc: Exception) -> None:
    """Say that a pass of a loop that starts again from its checkpoint failed, and will be tried again in 1 s.

    A log or store that does not answer now (a broker cut, a node restarting; its adapter logged the
    cause) is a warning: the loop goes on once it answers. Anything else is an error, with its traceback.
    """
    if isinstance(exc, (LogUnavailable, StoreUnavailable)):
        logger.warning(f"{loop} pass failed; retrying in 1 s", error=f"{type(exc).__name__}: {exc}")
    else:
        logger.exception(f"{loop} pass failed; retrying in 1 s")
