"""The feed's rank: engagement and recency in one number, fixed at write time.

    score = log10(1 + bumps + 2 * comments + views / 10) + (created_at - 2023-11-14) / 45,000 s

Ten times the engagement is worth 12.5 hours of recency. Because time enters only
through the article's own creation time, an article's score changes only when
its engagement does, so it can be stored on the card and sorted on; nothing is
recomputed at read time. `rank` is the score in millionths, an integer.
"""

from __future__ import annotations

import math

EPOCH_SECONDS = 1_700_000_000
RECENCY_SECONDS = 45_000


def rank(created_at_ms: int, bumps: int, comments: int, views: int) -> int:
    engagement = 1 + bumps + 2 * comments + views / 10
    score = math.log10(engagement) + (created_at_ms / 1000 - EPOCH_SECONDS) / RECENCY_SECONDS
    return round(score * 1_000_000)
