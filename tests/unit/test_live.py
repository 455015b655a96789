"""The stream's pure parts: which events concern a subscriber (services/live.py), and its message ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    CommentPosted,
    Event,
    TribeCreated,
    TribeLeft,
    UserBlocked,
    UserFollowed,
    UserUnblocked,
    UserUnfollowed,
)
from events.log import Position
from services.errors import BadQuery
from services.live import Audience, Message, step
from services.stream import Cursor, partitions_read

ME = "me"
_n = iter(range(1_000_000))


def env(actor: str) -> dict[str, object]:
    return {"event_id": f"e{next(_n)}", "actor_id": actor, "occurred_at": 1_700_000_000_000}


def published(author: str, tribe_id: str | None = None) -> ArticlePublished:
    return ArticlePublished(**env(author), article_id=f"a-{author}", slug="s", title="t", description="d",
                            body="b", tribe_id=tribe_id)


def fold(audience: Audience, *events: Event, authors: dict[str, str] | None = None) -> list[Message | None]:
    messages = []
    for event in events:
        audience, message = step(event, audience, authors or {})
        messages.append(message)
    return messages


def test_the_feed_is_followed_authors_and_joined_tribes_never_ones_own() -> None:
    audience = Audience(ME, followees=frozenset({"ann"}), tribes=frozenset({"t1"}))
    got = fold(audience, published("ann"), published("bob"), published("bob", "t1"), published(ME, "t1"))
    assert [m.kind if m else None for m in got] == ["feed", None, "feed", None]


def test_follows_joins_and_leaves_take_effect_at_their_place_in_the_log() -> None:
    got = fold(
        Audience(ME),
        published("ann"),
        UserFollowed(**env(ME), followee_id="ann"),
        published("ann"),
        UserUnfollowed(**env(ME), followee_id="ann"),
        published("ann"),
        TribeCreated(**env(ME), tribe_id="t9", name="n", description="d"),
        published("bob", "t9"),
        TribeLeft(**env(ME), tribe_id="t9"),
        published("bob", "t9"),
    )
    assert [m is not None for m in got] == [False, False, True, False, False, False, True, False, False]


@pytest.mark.parametrize("blocker, blocked", [(ME, "ann"), ("ann", ME)])
def test_blocks_hide_both_ways_until_unblocked(blocker: str, blocked: str) -> None:
    audience = Audience(ME, followees=frozenset({"ann"}))
    mine = {"a-me": ME}
    bump = ArticleBumped(**env("ann"), article_id="a-me")
    got = fold(
        audience,
        UserBlocked(**env(blocker), blocked_id=blocked),
        published("ann"),
        bump,
        UserFollowed(**env("ann"), followee_id=ME),
        UserUnblocked(**env(blocker), blocked_id=blocked),
        published("ann"),
        bump,
        authors=mine,
    )
    assert [m.kind if m else None for m in got] == [None, None, None, None, None, "feed", "notification"]


def test_notifications_are_what_the_notifications_view_groups_and_never_ones_own() -> None:
    mine = {"a-me": ME, "a-ann": "ann"}

    def comment(actor: str, article: str, mentions: tuple[str, ...] = ()) -> CommentPosted:
        return CommentPosted(**env(actor), article_id=article, comment_id=1, body="b",
                             mentions=mentions)

    got = fold(
        Audience(ME),
        ArticleBumped(**env("ann"), article_id="a-me"),
        ArticleBumped(**env(ME), article_id="a-me"),
        ArticleBumped(**env("bob"), article_id="a-ann"),
        comment("ann", "a-me"),
        comment("ann", "a-me", (ME,)),
        comment("bob", "a-ann", (ME,)),
        comment("bob", "a-ann"),
        UserFollowed(**env("bob"), followee_id=ME),
        UserFollowed(**env("bob"), followee_id="ann"),
        authors=mine,
    )
    shown = [(m.data["kind"], m.data.get("mentions_you")) if m else None for m in got]
    assert shown == [
        ("bump", None), None, None, ("comment", False), ("comment", True), ("mention", None), None,
        ("follow", None), None,
    ]


@given(st.lists(st.integers(min_value=0, max_value=36**13 - 1), min_size=len(partitions_read()),
                max_size=len(partitions_read())))
def test_a_cursor_survives_its_id(offsets: list[int]) -> None:
    cursor = Cursor(dict(zip(partitions_read(), offsets)))
    assert Cursor.parse(cursor.token()) == cursor


def test_a_cursor_takes_each_entry_once() -> None:
    cursor = Cursor(dict.fromkeys(partitions_read(), 0))
    topic, partition = partitions_read()[0]
    at = Position(topic, partition, 4)
    assert cursor.takes(at)
    cursor.passed(at)
    assert not cursor.takes(at) and not cursor.takes(Position(topic, partition, 3))
    assert cursor.takes(Position(topic, partition, 5))


@pytest.mark.parametrize("token", ["", "a0", "a0.0.0.0.0.0.0.0_f0.0.0.0", "a00.0.0.0.0.0.0.0_f0.0.0.0_t0.0.0.0",
                                   "A0.0.0.0.0.0.0.0_f0.0.0.0_t0.0.0.0", "a0.0.0.0.0.0.0.0_f0.0.0.0_t0.0.0.0.0"])
def test_an_id_of_another_form_is_refused(token: str) -> None:
    with pytest.raises(BadQuery):
        Cursor.parse(token)
