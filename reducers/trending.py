"""Trending articles and tags: windowed aggregation of bumps and comments, at write time.

Each bump, unbump or comment adds +1/-1/+1 to two time buckets (5 minutes and 1
hour, by the event's own time) of its source partition: one document per
(bucket, partition), holding a score per article. A bump counts only when the user
was not bumping the article already, an unbump only when they were: the view keeps
its own document per (article, user), and a bump scores that user's transition,
read from it as reducers/engagement.py describes, so a bucket neither misses nor
repeats a bump when a partial write kept the user's document and lost the bucket.
Every bucket is fed by one partition, so the fold's version guard keeps the deltas
exact under redelivery and replay.

A bucket reads no other document: the article's tags and whether it is deleted are
kept beside it (`trend_articles`, written by publish, edit, delete and moderation) and joined
when trending is read (projections/queries.py). A bucket written from the article
as it was would differ, after a partial write that kept a later edit and lost the
bucket, from the one a clean write gives. So a tag trends with the scores of the
articles that carry it now, and a deleted or hidden article leaves the trends at once.
Reading "the last hour" sums the twelve or thirteen 5-minute buckets of every
partition; "the last day", the hourly ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticleErased,
    ArticlePublished,
    ArticleUnbumped,
    CommentPosted,
    Event,
    ModerationDecided,
)
from events.routing import ARTICLES, key_hash, partitions
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import TrendArticle, TrendBucket, TrendBump
from reducers.engagement import step
from reducers.moderation import decision_applies

BUCKETS = "trend_buckets"
ARTICLE_TAGS = "trend_articles"
BUMPS = "trend_bumps"
WINDOWS: dict[str, int] = {"5m": 300_000, "1h": 3_600_000}


def bucket_id(window: str, start: int, partition: int) -> str:
    return f"{window}:{start}@{partition}"


def bucket_start(window: str, at_ms: int) -> int:
    return at_ms - at_ms % WINDOWS[window]


def bump_id(article_id: str, user_id: str) -> str:
    return f"{article_id}:{user_id}"


@lru_cache(maxsize=4096)
def _hash(article_id: str) -> int:
    """The article's key hash (a murmur2 each scored event needs twice)."""
    return key_hash(article_id)


def _partition(article_id: str) -> int:
    """The partition of an article's events, whose buckets they score: `partition_for`, with the hash cached."""
    return _hash(article_id) % partitions(ARTICLES)


class TrendingReducer(Reducer):
    collections = (BUCKETS, ARTICLE_TAGS, BUMPS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    @keys.register(ArticleEdited)
    @keys.register(ArticleDeleted)
    @keys.register(ArticleErased)
    def _(self, event: ArticlePublished | ArticleEdited | ArticleDeleted | ArticleErased) -> tuple[DocKey, ...]:
        return ((ARTICLE_TAGS, event.article_id),)

    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped) -> tuple[DocKey, ...]:
        return (*_buckets(event), (BUMPS, bump_id(event.article_id, event.actor_id)))

    @keys.register(CommentPosted)
    def _(self, event: CommentPosted) -> tuple[DocKey, ...]:
        return _buckets(event)

    @keys.register(ModerationDecided)
    def _(self, event: ModerationDecided) -> tuple[DocKey, ...]:
        if event.target_kind != "article" or event.target_id != event.article_id:
            return ()
        return ((ARTICLE_TAGS, event.article_id),)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ModerationDecided)
    def _(self, event: ModerationDecided, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """A hidden article's tags trend for nobody but its author (projections/queries.py `trend_tags`)."""
        (key,) = self.keys(event)
        article = held(docs, key, TrendArticle)
        if article is None or event.action not in ("hide", "restore"):
            return {}
        if not decision_applies(event, article["moderated_at"]):
            return {}
        decided: TrendArticle = {**article, "hidden": event.action == "hide", "moderated_at": event.occurred_at}
        return {key: decided}

    @apply.register(ArticlePublished)
    def _(self, event: ArticlePublished, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        if docs.get(key) is not None:
            return {}
        article: TrendArticle = {
            "article_id": event.article_id,
            "author_id": event.actor_id,
            "tags": sorted(set(event.tags)),
            "deleted": False,
            "hidden": False,
            "moderated_at": None,
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
    @apply.register(ArticleErased)
    def _(self, event: ArticleDeleted | ArticleErased, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """A deleted article scores no more; an erased one also forgets its tags (its author's writing)."""
        (key,) = self.keys(event)
        article = held(docs, key, TrendArticle)
        if article is None or article["author_id"] != event.actor_id:
            return {}
        deleted: TrendArticle = {**article, "deleted": True}
        if isinstance(event, ArticleErased):
            deleted["tags"] = []
        return {key: deleted}

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The user's document records their state; the buckets score their transition."""
        *bucket_keys, bump_key = self.keys(event)
        bump = held(docs, bump_key, TrendBump)
        moved = step(bump, event, isinstance(event, ArticleBumped))
        changed: dict[DocKey, Body] = {}
        if moved.recent is not None:
            recorded: TrendBump = {
                "article_id": event.article_id,
                "user_id": event.actor_id,
                "active": moved.after,
                "recent": moved.recent,
            }
            changed[bump_key] = recorded
        if moved.delta:
            changed |= _score(event, bucket_keys, docs, moved.delta)
        return changed

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return _score(event, list(self.keys(event)), docs, 1)


def _buckets(event: ArticleBumped | ArticleUnbumped | CommentPosted) -> tuple[DocKey, ...]:
    """The event's two buckets; none for a time before the epoch, which no clock of ours gives and no window reads."""
    if event.occurred_at < 0:
        return ()
    partition = _partition(event.article_id)
    starts = ((window, bucket_start(window, event.occurred_at)) for window in WINDOWS)
    return tuple((BUCKETS, bucket_id(window, start, partition)) for window, start in starts)


def _score(
    event: ArticleBumped | ArticleUnbumped | CommentPosted,
    bucket_keys: list[DocKey],
    docs: Mapping[DocKey, Body | None],
    delta: int,
) -> dict[DocKey, Body]:
    """The event's buckets with `delta` added to the article's score."""
    partition = _partition(event.article_id)
    changed: dict[DocKey, Body] = {}
    for window, key in zip(WINDOWS, bucket_keys):
        bucket: TrendBucket = held(docs, key, TrendBucket) or {
            "window": window,
            "start": bucket_start(window, event.occurred_at),
            "partition": partition,
            "articles": {},
        }
        articles = {**bucket["articles"], event.article_id: bucket["articles"].get(event.article_id, 0) + delta}
        scored: TrendBucket = {**bucket, "articles": articles}
        changed[key] = scored
    return changed
