"""Ids that cannot collide (issue 13 item 7): comment ids, and the mention notifications keyed by them.

Comment ids used to be 41 bits of milliseconds and 11 random bits: comments taken within one
millisecond collided one time in 2,048 per pair, and the second poster was answered with the
first one's comment. They are now handed out from blocks the log gives each process once
(events/ids.py), run here on the real embedded log with two clients, as two processes would be.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticlePublished, CommentPosted
from events.ids import BLOCK_BITS, IdBlocks
from reducers.base import fold
from reducers.notifications import NOTIFICATIONS, NotificationsReducer

T0 = 1_700_000_000_000


async def test_ids_from_two_processes_taken_at_once_never_collide_and_stay_javascript_safe(tmp_path: Path) -> None:
    one, other = SqliteLog(tmp_path / "log.db"), SqliteLog(tmp_path / "log.db")
    try:
        first, second = IdBlocks(one.claim_id_block), IdBlocks(other.claim_id_block)
        taken = await asyncio.gather(*(ids.next_id() for _ in range(5_000) for ids in (first, second)))
    finally:
        await one.close()
        await other.close()
    assert len(set(taken)) == len(taken) == 10_000
    assert min(taken) > 0 and max(taken) < 2**51  # below every id of the old kind, and below 2**53


async def test_a_used_up_block_is_followed_by_a_new_one_and_a_restart_never_reuses_one(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.db")
    try:
        ids = IdBlocks(log.claim_id_block)
        block = [await ids.next_id() for _ in range(2**BLOCK_BITS + 1)]
        restarted = IdBlocks(log.claim_id_block)
        after_restart = await restarted.next_id()
    finally:
        await log.close()
    assert block[: 2**BLOCK_BITS] == list(range(block[0], block[0] + 2**BLOCK_BITS))
    assert block[-1] >> BLOCK_BITS != block[0] >> BLOCK_BITS
    assert after_restart >> BLOCK_BITS not in {block[0] >> BLOCK_BITS, block[-1] >> BLOCK_BITS}
    assert len(set(block) | {after_restart}) == len(block) + 1


def test_a_mention_notification_is_one_per_article_comment_and_user() -> None:
    """Two comments with one id on two articles (old ids could) mention one user: two notifications."""
    events = [
        ArticlePublished(
            event_id=f"p-{a}", actor_id="u1", occurred_at=T0, article_id=a, slug=a, title=a, description="d",
            body="b", tags=(),
        )
        for a in ("a1", "a2")
    ]
    events += [
        CommentPosted(
            event_id=f"c-{a}", actor_id="u2", occurred_at=T0 + 1, article_id=a, comment_id=11, body="hi @u3",
            mentions=("u3",),
        )
        for a in ("a1", "a2")
    ]
    state = fold(NotificationsReducer(), {}, [(n + 1, e) for n, e in enumerate(events)])
    mentions = {doc_id: v.body for (c, doc_id), v in state.items() if c == NOTIFICATIONS and "mention" in doc_id}
    assert {(m["article_id"], m["comment_id"], m["recipient_id"]) for m in mentions.values()} == {
        ("a1", 11, "u3"),
        ("a2", 11, "u3"),
    }
