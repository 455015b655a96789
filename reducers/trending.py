"""Trending articles and tags: windowed aggregation of bumps and comments, at write time.

Each bump, unbump or comment adds +1/-1/+1 to two time buckets (5 minutes and 1
hour, by the event's own time) of its source partition: one document per
(bucket, partition), holding score maps for articles and tags. A bump counts
only when the user was not bumping the article already, an unbump only when they
were (the view keeps each article's current bumpers), so repeated bumps from one
user add nothing. That transition reads the bumper set the same event changes:
on a store whose bulk writes are not atomic, a crash between the two documents
can make a window miss or repeat that one bump. Trending is a ranking signal, and
a rebuild (`tribe replay trending`) puts it right. Reading "the last
hour" sums the twelve or thirteen 5-minute buckets of every partition; "the last
day", the hourly ones. Every bucket is fed by one partition, so the fold's version
guard keeps the deltas exact under redelivery and replay.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    CommentPosted,
    Event,
)
from events.routing import source_of
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import TrendArticle, TrendBucket

BUCKETS = "trend_buckets"
ARTICLE_TAGS = "trend_articles"
WINDOWS: dict[str, int] = {"5m": 300_000, "1h": 3_600_000}


def bucket_id(window: str, start: int, partition: int) -> str:
    return f"{window}:{start}@{partition}"


def bucket_start(window: str, at_ms: int) -> int:
    return at_ms - at_ms % WINDOWS[window]


def _delta(event: Event, bumpers: set[str]) -> int:
    """What the event adds to the article's score: bumps and unbumps count only as transitions."""
    if isinstance(event, ArticleBumped):
        return 0 if event.actor_id in bumpers else 1
    if isinstance(event, ArticleUnbumped):
        return -1 if event.actor_id in bumpers else 0
    return 1


class TrendingReducer(Reducer):
    collections = (BUCKETS, ARTICLE_TAGS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    @keys.register(ArticleEdited)
    @keys.register(ArticleDeleted)
    def _(self, event: ArticlePublished | ArticleEdited | ArticleDeleted) -> tuple[DocKey, ...]:
        return ((ARTICLE_TAGS, event.article_id),)

    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    @keys.register(CommentPosted)
    def _(self, event: ArticleBumped | ArticleUnbumped | CommentPosted) -> tuple[DocKey, ...]:
        _, partition = source_of(event)
        buckets = tuple(
            (BUCKETS, bucket_id(window, bucket_start(window, event.occurred_at), partition)) for window in WINDOWS
        )
        return ((ARTICLE_TAGS, event.article_id), *buckets)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ArticlePublished)
    def _(self, event: ArticlePublished, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        if docs.get(key) is not None:
            return {}
        article: TrendArticle = {
            "article_id": event.article_id,
            "author_id": event.actor_id,
            "tags": sorted(set(event.tags)),
            "bumpers": [],
            "deleted": False,
        }
        return {key: article}

    @apply.register(ArticleEdited)
    def _(self, event: ArticleEdited, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """New tags score from now on; what the old ones scored stays in the buckets it was counted in."""
        (key,) = self.keys(event)
        article = held(docs, key, TrendArticle)
        if event.tags is None or article is None or article["deleted"] or article["author_id"] != event.actor_id:
            return {}
        edited: TrendArticle = {**article, "tags": sorted(set(event.tags))}
        return {key: edited}

    @apply.register(ArticleDeleted)
    def _(self, event: ArticleDeleted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        article = held(docs, key, TrendArticle)
        if article is None or article["author_id"] != event.actor_id:
            return {}
        deleted: TrendArticle = {**article, "deleted": True}
        return {key: deleted}

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    @apply.register(CommentPosted)
    def _(
        self, event: ArticleBumped | ArticleUnbumped | CommentPosted, docs: Mapping[DocKey, Body | None]
    ) -> dict[DocKey, Body]:
        article_key, *bucket_keys = self.keys(event)
        article = held(docs, article_key, TrendArticle)
        if article is None or article["deleted"]:
            return {}
        bumpers = set(article["bumpers"])
        delta = _delta(event, bumpers)
        changed: dict[DocKey, Body] = {}
        if isinstance(event, (ArticleBumped, ArticleUnbumped)):
            # Written even when nothing changes (delta 0), like the buckets below: a document the event
            # left unwritten would look unapplied to a replay, which would then score it from later state.
            if delta:
                bumpers.symmetric_difference_update({event.actor_id})
            updated: TrendArticle = {**article, "bumpers": sorted(bumpers)}
            changed[article_key] = updated
        _, partition = source_of(event)
        for window, key in zip(WINDOWS, bucket_keys):
            bucket: TrendBucket = held(docs, key, TrendBucket) or {
                "window": window,
                "start": bucket_start(window, event.occurred_at),
                "partition": partition,
                "articles": {},
                "tags": {},
            }
            articles = {**bucket["articles"], event.article_id: bucket["articles"].get(event.article_id, 0) + delta}
            tags = dict(bucket["tags"])
            for tag in article["tags"]:
                tags[tag] = tags.get(tag, 0) + delta
            scored: TrendBucket = {**bucket, "articles": articles, "tags": tags}
            changed[key] = scored
        return changed
