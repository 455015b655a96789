"""Timelines: each reader's delivered articles, and the authors and tribes read by pull instead.

The fan-out (services/fanout.py) decides who receives an article and appends the decision to
the log (`ArticleDelivered`, a bounded batch of readers per event); this reducer only files
it, so a replay gives the same timelines whatever the follows look like by then. An entry is
a document per (reader, article), fed by the article's partition alone. A second delivery
of the same article to a reader (a redelivered event, a follower who is also a member of the
article's tribe) finds the entry and can only add its reason: every write is idempotent.

An entry is never removed here: a deleted article, an unfollow, a block are read from their
own documents when the timeline is read (projections/queries.py, services/articles.py), so
none of them costs a write per reader.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import ArticleDelivered, AudienceOutgrown, Event
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Outlier, TimelineEntry

TIMELINE = "timeline"
OUTLIERS = "outliers"


def timeline_id(reader_id: str, article_id: str) -> str:
    return f"{reader_id}:{article_id}"


def outlier_id(kind: str, source_id: str) -> str:
    return f"{kind}:{source_id}"


class TimelinesReducer(Reducer):
    collections = (TIMELINE, OUTLIERS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticleDelivered)
    def _(self, event: ArticleDelivered) -> tuple[DocKey, ...]:
        return tuple((TIMELINE, timeline_id(reader, event.article_id)) for reader in event.readers)

    @keys.register(AudienceOutgrown)
    def _(self, event: AudienceOutgrown) -> tuple[DocKey, ...]:
        return ((OUTLIERS, outlier_id(event.kind, event.source_id)),)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ArticleDelivered)
    def _(self, event: ArticleDelivered, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        by_author, by_tribe = event.reason == "author", event.reason == "tribe"
        changed: dict[DocKey, Body] = {}
        for reader, key in zip(event.readers, self.keys(event)):
            entry = held(docs, key, TimelineEntry)
            if entry is not None and (entry["by_author"] or not by_author) and (entry["by_tribe"] or not by_tribe):
                continue
            filed: TimelineEntry = {
                "reader_id": reader,
                "article_id": event.article_id,
                "author_id": event.author_id,
                "tribe_id": event.tribe_id,
                "created_at": event.published_at,
                "by_author": by_author or (entry is not None and entry["by_author"]),
                "by_tribe": by_tribe or (entry is not None and entry["by_tribe"]),
            }
            changed[key] = filed
        return changed

    @apply.register(AudienceOutgrown)
    def _(self, event: AudienceOutgrown, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The first mark stands: an audience that outgrew the fan-out stays pulled (no flapping at the threshold)."""
        (key,) = self.keys(event)
        if docs.get(key) is not None:
            return {}
        outlier: Outlier = {"kind": event.kind, "source_id": event.source_id, "since": event.occurred_at}
        return {key: outlier}
