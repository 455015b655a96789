"""What the runners decide is appended once: a repeat keeps its position, a clash keeps the first decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticleUnbumped, UserUnfollowed
from events.routing import ARTICLES, FOLLOWS, partitions
from services.writer import append_decisions
from tests.sealed import sealed_codec

CODEC = sealed_codec()


def unbump(article_id: str, event_id: str | None = None) -> ArticleUnbumped:
    return ArticleUnbumped(event_id=event_id or f"x1.bump.{article_id}", actor_id="u1", occurred_at=1,
                           article_id=article_id)


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    yield log
    await log.close()


async def test_a_decision_taken_again_keeps_its_position_and_the_new_ones_are_appended(log: SqliteLog) -> None:
    [first] = await append_decisions(log, CODEC, [unbump("a1")])
    again = await append_decisions(log, CODEC, [unbump("a1"), unbump("a2")])
    assert again[0] == first and again[1].topic == ARTICLES
    assert sum((await log.end_offsets([(ARTICLES, p) for p in range(partitions(ARTICLES))])).values()) == 2


async def test_a_decision_the_log_holds_with_another_payload_is_dropped_and_the_rest_appended(log: SqliteLog) -> None:
    await append_decisions(log, CODEC, [unbump("a1", event_id="x1.clash")])
    unfollow = UserUnfollowed(event_id="x1.follow.u2", actor_id="u1", occurred_at=1, followee_id="u2")
    appended = await append_decisions(log, CODEC, [unbump("a9", event_id="x1.clash"), unfollow])
    assert [p.topic for p in appended] == [FOLLOWS]
    assert sum((await log.end_offsets([(ARTICLES, p) for p in range(partitions(ARTICLES))])).values()) == 1
