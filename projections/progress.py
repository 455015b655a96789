"""Read-your-writes: has every view fed by a position's topic reached it?

The runtimes record checkpoints in the store with the documents, so the API
can tell, from the store alone, whether a projection reflects a write, on the
embedded runtime and with Faust workers in other processes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable, Sequence

from events.log import Position
from projections.live import live_version
from projections.store import Store
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

    async def reached(self, positions: Sequence[Position]) -> bool:
        topics = {p.topic for p in positions}
        aliases = await self.store.aliases()
        for view in self.views:
            if not topics.intersection(view.topics):
                continue
            version = live_version(view, aliases)
            if version is None:
                return False
            offsets = await self.store.checkpoint(view.projection_id(version))
            for p in positions:
                if p.topic in view.topics and offsets.get((p.topic, p.partition), 0) <= p.offset:
                    return False
        return True

    async def wait(self, positions: Sequence[Position], timeout: float) -> bool:
        """True once every position is reflected; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            signal = self._advanced() if self._advanced else None
            if await self.reached(positions):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if signal is None:
                await asyncio.sleep(min(self.poll, remaining))
            else:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.25)):
                        await signal.wait()
