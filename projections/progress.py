"""Read-your-writes: has every view fed by a position's topic (or each of those a caller names) reached it?

The runtimes record checkpoints in the store with the documents, so the API
can tell, from the store alone, whether a projection reflects a write, on the
embedded runtime and with Kafka workers in other processes alike.

One watcher per process reads the checkpoints, however many requests wait: while any
request waits, a single task reads the live versions' checkpoints (when the in-process
runtime says it advanced, or every `poll` seconds without one) and wakes the waiters, who
compare their positions with what it read. A hundred waiting requests cost one store read
per round, not a hundred.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Sequence

from events.log import Position
from projections.live import live_version
from projections.store import Offsets, Store
from projections.views import View


class Progress:
    def __init__(
        self,
        store: Store,
        views: tuple[View, ...],
        *,
        advanced: Callable[[], asyncio.Event] | None = None,
        poll: float = 0.01,
    ) -> None:
        self.store = store
        self.views = views
        self._advanced = advanced
        self.poll = poll
        self._seen: dict[str, Offsets | None] = {}  # view name -> its live version's checkpoint (None: not installed)
        self.judged: dict[str, str] = {}
        """The aliases of the round `_seen` comes from: the versions a wait that just ended found reflecting."""
        self._changed = asyncio.Event()
        self._waiters = 0
        self._watcher: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        """One round: every view's live checkpoint, as the store holds it now."""
        aliases = await self.store.aliases()
        seen: dict[str, Offsets | None] = {}
        for view in self.views:
            version = live_version(view, aliases)
            seen[view.name] = None if version is None else await self.store.checkpoint(view.projection_id(version))
        self._seen, self.judged = seen, aliases
        self._changed.set()
        self._changed = asyncio.Event()

    def covered(self, positions: Sequence[Position], views: Collection[str] | None = None) -> bool:
        """Whether the last round read shows every position reflected by every view of its topic.

        `views` names the views that count (None: all); a caller that needs some views only names them.
        """
        for view in self.views:
            if views is not None and view.name not in views:
                continue
            relevant = [p for p in positions if p.topic in view.topics]
            if not relevant:
                continue
            offsets = self._seen.get(view.name)
            if offsets is None:
                return False
            if any(offsets.get((p.topic, p.partition), 0) <= p.offset for p in relevant):
                return False
        return True

    async def live(self) -> dict[str, str]:
        """The aliases reads resolve now: equal to `judged` when no blue/green switch came since that round."""
        return await self.store.aliases()

    async def wait(
        self,
        positions: Sequence[Position],
        timeout: float,
        views: Collection[str] | None = None,
        *,
        fresh: bool = False,
    ) -> bool:
        """True once every position is reflected (by `views`, as in `covered`); False if `timeout` seconds pass.

        `fresh` judges on a round read now, not on the last one: after a blue/green switch, the last
        round may show the positions reflected by the versions switched out, and `judged` name them.
        """
        if not positions:
            return True
        if fresh:
            await self._read()
        deadline = time.monotonic() + timeout
        self._waiters += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="checkpoint-watcher")
        try:
            while not self.covered(positions, views):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                    async with asyncio.timeout(remaining):
                        await changed.wait()
            return True
        finally:
            self._waiters -= 1

    async def _watch(self) -> None:
        """Read the checkpoints round after round while anyone waits; then stop."""
        while self._waiters:
            signal = self._advanced() if self._advanced else None
            await self._read()
            if signal is None:
                await asyncio.sleep(self.poll)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):
                    await signal.wait()

    async def close(self) -> None:
        """Stop the watcher (it stops by itself once nobody waits)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
