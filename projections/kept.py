"""Read-model answers a process keeps for a while: questions many requests ask that may be a little stale.

A token's generation (every authenticated request asks, services/security.py) and the tag list
(every Conduit home page, projections/queries.py) each say how stale they may be and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

KEPT_KEYS = 10_000
"""Keys kept at most; past that all are dropped at once (a cache of what is asked now, not of everyone)."""


class Kept(Generic[K, V]):
    """`compute(key)`'s answers, each served for `ttl` seconds from when its computation started.

    Requests that come while an answer is computed wait for that one computation, so a burst of
    the same question reads once. A computation that fails is not kept: the next request computes
    again. `fresh` computes now, for a reader who must see their own write.
    """

    def __init__(
        self,
        compute: Callable[[K], Awaitable[V]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._ttl = ttl
        self._clock = clock
        self._kept: dict[K, tuple[float, asyncio.Future[V]]] = {}

    async def get(self, key: K, *, fresh: bool = False) -> V:
        now = self._clock()
        kept = self._kept.get(key)
        if kept is None or fresh or now - kept[0] >= self._ttl:
            if kept is None and len(self._kept) >= KEPT_KEYS:
                self._kept.clear()
            kept = self._kept[key] = (now, asyncio.ensure_future(self._compute(key)))
        try:
            # Shielded: a request that is cancelled (its client went away) leaves the computation to the others.
            return await asyncio.shield(kept[1])
        except Exception:
            if self._kept.get(key) is kept:
                del self._kept[key]
            raise

    def forget(self, key: K) -> None:
        """Compute the key's answer again at the next request (it just changed)."""
        self._kept.pop(key, None)
