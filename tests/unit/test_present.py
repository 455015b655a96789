"""The presentation of read-model documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from api import present
from api.openapi import DOCUMENT
from api.present import iso
from reducers.documents import QueueItem
from services.moderation import QueueView
from services.views import ArticleView, Profile


@given(st.integers(min_value=-62_000_000_000_000, max_value=253_000_000_000_000))
def test_iso_is_the_utc_instant_to_the_millisecond(millis: int) -> None:
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC).replace(microsecond=(millis % 1000) * 1000)
    assert iso(millis) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_queue_item_answers_what_the_openapi_document_lists_and_not_the_queue_order() -> None:
    doc = dict.fromkeys(QueueItem.__annotations__, 1) | {"id": "article:a1"}
    shown = present.queue_item(QueueView(doc, "Hill climb"))
    assert set(shown) == set(DOCUMENT["components"]["schemas"]["QueueItem"]["properties"])
    assert shown["shown"] == "Hill climb"


_TEXT = st.text(max_size=12)
_CARDS = st.fixed_dictionaries(
    {
        "slug": _TEXT,
        "title": _TEXT,
        "description": _TEXT,
        "tags": st.lists(_TEXT, max_size=3),
        "created_at": st.integers(0, 2**41),
        "updated_at": st.integers(0, 2**41),
        "favorites_count": st.integers(0, 10**7),
        "body": _TEXT,
    }
)
_USERS = st.fixed_dictionaries(
    {"username": _TEXT, "bio": _TEXT, "image": st.none() | _TEXT},
    optional={"private": st.booleans()},
)


@given(card=_CARDS, user=_USERS, favorited=st.booleans(), following=st.booleans(), requested=st.booleans())
def test_a_listed_article_is_the_article_without_its_body(
    card: dict[str, Any], user: dict[str, Any], favorited: bool, following: bool, requested: bool
) -> None:
    shown = ArticleView(card, Profile(user, following, requested), favorited)
    whole = present.article(shown)
    del whole["body"]
    for _ in range(2):  # encoded, then remembered
        assert orjson.loads(orjson.dumps(present.listed_article(shown))) == whole


def test_each_document_object_shows_its_own_content_and_what_is_remembered_is_bounded() -> None:
    card = {"slug": "s", "title": "Old", "description": "", "tags": [], "created_at": 0, "updated_at": 0,
            "favorites_count": 1, "body": ""}
    user = {"username": "u", "bio": "", "image": None}
    first = ArticleView(card, Profile(user, False), False)
    edited = ArticleView({**card, "title": "New", "favorites_count": 2}, Profile({**user, "bio": "b"}, False), False)
    listed = [orjson.loads(orjson.dumps(present.listed_article(a))) for a in (first, edited, first)]
    assert [(a["title"], a["favoritesCount"], a["author"]["bio"]) for a in listed] == [
        ("Old", 1, ""), ("New", 2, "b"), ("Old", 1, "")
    ]
    for n in range(present.ENCODED_DOCUMENTS + 10):
        present.listed_article(ArticleView({**card, "slug": str(n)}, Profile(user, True), True))
    assert len(present._CARDS) <= present.ENCODED_DOCUMENTS
