"""Event ids (time-ordered ULIDs: 48 bits of milliseconds, 80 random bits) and numeric ids that cannot collide."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLIENT_EVENT_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # every 10-bit value as two characters
_SHIFTS = range(120, -1, -10)


def new_event_id(now_ms: int | None = None) -> str:
    """A 26-character Crockford base32 ULID; ids made later sort later.

    The 130 bits (two leading zeros, 48 of milliseconds, 80 random) are written ten at a time:
    13 lookups instead of 26 divisions of a 128-bit integer, a third of the cost per event.
    """
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


BLOCK_BITS = 16
"""Numeric ids per claimed block: 65,536."""
_LAST_BLOCK = (1 << (51 - BLOCK_BITS)) - 1


class IdBlocks:
    """Numeric ids that cannot collide, for JavaScript clients (< 2**51): comment ids.

    Unique by construction, not by chance: each id is `block * 2**16 + n`, where `block` is a
    number the log hands out once (`Log.claim_id_block`: the position of a record appended to
    claim it, so no two claims in any process get the same one) and `n` counts up within this
    process, each value handed out once. Two ids from two processes differ in their block, two
    from one process in their block or their count, so no two comments anywhere share an id, in
    one article or across articles. A process claims a block when it needs its first id and
    whenever one is used up; a restarted process claims a new one (what was left of the old
    block is never used).

    Ids made before these (41 bits of milliseconds and 11 random bits) are at least 2**51 for any
    time since 2004, above every id made here: the two kinds never meet.
    """

    def __init__(self, claim: Callable[[], Awaitable[int]]) -> None:
        self._claim = claim
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def next_id(self) -> int:
        async with self._lock:
            if self._next == self._end:
                block = await self._claim()
                if not 0 < block <= _LAST_BLOCK:
                    raise ValueError(f"id block {block} is outside 1..{_LAST_BLOCK}")
                self._next, self._end = block << BLOCK_BITS, (block + 1) << BLOCK_BITS
            taken, self._next = self._next, self._next + 1
            return taken
