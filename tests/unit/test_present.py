"""The presentation of read-model documents."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from api import present
from api.openapi import DOCUMENT
from api.present import iso
from reducers.documents import QueueItem
from services.moderation import QueueView


@given(st.integers(min_value=-62_000_000_000_000, max_value=253_000_000_000_000))
def test_iso_is_the_utc_instant_to_the_millisecond(millis: int) -> None:
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC).replace(microsecond=(millis % 1000) * 1000)
    assert iso(millis) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_queue_item_answers_what_the_openapi_document_lists_and_not_the_queue_order() -> None:
    doc = dict.fromkeys(QueueItem.__annotations__, 1) | {"id": "article:a1"}
    shown = present.queue_item(QueueView(doc, "Hill climb"))
    assert set(shown) == set(DOCUMENT["components"]["schemas"]["QueueItem"]["properties"])
    assert shown["shown"] == "Hill climb"
