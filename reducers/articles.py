"""Article cards: an article with its tribe, bumps (Conduit's favorites), views, comments and feed rank.

Every article event is keyed by article id, so an article and its comments are
fed by one partition; a comment's document id is `<article_id>:<comment_id>`.
Counters are derived from sets (who bumped, which comments exist), so applying
an event twice cannot count twice; views, which have no natural set, are
protected by the fold's version guard. Each document's new state follows from
its own state and the event, so a redelivered event completes a bulk write a
non-atomic store kept only part of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Article, Comment, ViewReceipt
from reducers.ranking import rank

ARTICLES = "articles"
COMMENTS = "comments"
VIEW_RECEIPTS = "view_receipts"


def comment_doc_id(article_id: str, comment_id: int) -> str:
    return f"{article_id}:{comment_id}"


def view_receipt_id(article_id: str, event_id: str) -> str:
    """One small receipt per counted view; the article id keeps it in the article's partition."""
    return f"{article_id}:{event_id}"


def _view_keys(event: ArticleViewed) -> tuple[DocKey, DocKey]:
    """The card a view counts on and its receipt."""
    return (ARTICLES, event.article_id), (VIEW_RECEIPTS, view_receipt_id(event.article_id, event.event_id))


def _live(article: Article | None) -> TypeGuard[Article]:
    return article is not None and not article["deleted"]


def _ranked(article: Article) -> Article:
    """The card with its rank recomputed from its counts."""
    return {
        **article,
        "rank": rank(article["created_at"], article["favorites_count"], article["comments_count"], article["views"]),
    }


class ArticlesReducer(Reducer):
    collections = (ARTICLES, COMMENTS, VIEW_RECEIPTS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    @keys.register(ArticleEdited)
    @keys.register(ArticleDeleted)
    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    def _(
        self, event: ArticlePublished | ArticleEdited | ArticleDeleted | ArticleBumped | ArticleUnbumped
    ) -> tuple[DocKey, ...]:
        return ((ARTICLES, event.article_id),)

    @keys.register(ArticleViewed)
    def _(self, event: ArticleViewed) -> tuple[DocKey, ...]:
        return _view_keys(event)

    @keys.register(CommentPosted)
    @keys.register(CommentDeleted)
    def _(self, event: CommentPosted | CommentDeleted) -> tuple[DocKey, ...]:
        return ((ARTICLES, event.article_id), (COMMENTS, comment_doc_id(event.article_id, event.comment_id)))

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ArticlePublished)
    def _(self, event: ArticlePublished, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = (ARTICLES, event.article_id)
        if docs.get(key) is not None:
            return {}
        article: Article = {
            "article_id": event.article_id,
            "author_id": event.actor_id,
            "tribe_id": event.tribe_id,
            "slug": event.slug,
            "title": event.title,
            "description": event.description,
            "body": event.body,
            "tags": sorted(set(event.tags)),
            "created_at": event.occurred_at,
            "updated_at": event.occurred_at,
            "favorited_by": [],
            "favorites_count": 0,
            "comment_ids": [],
            "comments_count": 0,
            "views": 0,
            "deleted": False,
            "rank": rank(event.occurred_at, bumps=0, comments=0, views=0),
        }
        return {key: article}

    @apply.register(ArticleEdited)
    def _(self, event: ArticleEdited, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = (ARTICLES, event.article_id)
        article = held(docs, key, Article)
        if not _live(article) or article["author_id"] != event.actor_id:
            return {}
        edited: Article = {**article, "updated_at": event.occurred_at}
        if event.slug is not None:
            edited["slug"] = event.slug
        if event.title is not None:
            edited["title"] = event.title
        if event.description is not None:
            edited["description"] = event.description
        if event.body is not None:
            edited["body"] = event.body
        if event.tags is not None:
            edited["tags"] = sorted(set(event.tags))
        return {key: edited}

    @apply.register(ArticleDeleted)
    def _(self, event: ArticleDeleted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = (ARTICLES, event.article_id)
        article = held(docs, key, Article)
        if not _live(article) or article["author_id"] != event.actor_id:
            return {}
        deleted: Article = {**article, "deleted": True, "updated_at": event.occurred_at}
        return {key: deleted}

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = (ARTICLES, event.article_id)
        article = held(docs, key, Article)
        if not _live(article):
            return {}
        bumpers = set(article["favorited_by"])
        if isinstance(event, ArticleBumped):
            bumpers.add(event.actor_id)
        else:
            bumpers.discard(event.actor_id)
        ordered = sorted(bumpers)
        return {key: _ranked({**article, "favorited_by": ordered, "favorites_count": len(ordered)})}

    @apply.register(ArticleViewed)
    def _(self, event: ArticleViewed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """One view per event id: a log that cannot deduplicate (Kafka) may hold a client's retry twice.

        Each counted view leaves a receipt named by its event id, so a retry at any later offset
        finds it: an insert of a few bytes per view, where a list of an article's recent ids
        would be copied, scanned and rewritten whole on every view.
        """
        key, receipt_key = _view_keys(event)
        article = held(docs, key, Article)
        if not _live(article) or docs.get(receipt_key) is not None:
            return {}
        receipt: ViewReceipt = {"article_id": event.article_id, "event_id": event.event_id}
        return {key: _ranked({**article, "views": article["views"] + 1}), receipt_key: receipt}

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        article_key, comment_key = self.keys(event)
        article = held(docs, article_key, Article)
        comment = held(docs, comment_key, Comment)
        if not _live(article):
            return {}
        changed: dict[DocKey, Body] = {}
        if comment is None:
            posted: Comment = {
                "comment_id": event.comment_id,
                "article_id": event.article_id,
                "author_id": event.actor_id,
                "body": event.body,
                "created_at": event.occurred_at,
                "updated_at": event.occurred_at,
                "deleted": False,
            }
            changed[comment_key] = posted
        if (comment is None or not comment["deleted"]) and event.comment_id not in article["comment_ids"]:
            comment_ids = sorted(set(article["comment_ids"]) | {event.comment_id})
            changed[article_key] = _ranked({**article, "comment_ids": comment_ids, "comments_count": len(comment_ids)})
        return changed

    @apply.register(CommentDeleted)
    def _(self, event: CommentDeleted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        article_key, comment_key = self.keys(event)
        comment = held(docs, comment_key, Comment)
        if comment is None or comment["author_id"] != event.actor_id:
            return {}
        changed: dict[DocKey, Body] = {}
        if not comment["deleted"]:
            deleted: Comment = {**comment, "deleted": True, "updated_at": event.occurred_at}
            changed[comment_key] = deleted
        article = held(docs, article_key, Article)
        if article is not None and event.comment_id in article["comment_ids"]:
            comment_ids = [c for c in article["comment_ids"] if c != event.comment_id]
            changed[article_key] = _ranked({**article, "comment_ids": comment_ids, "comments_count": len(comment_ids)})
        return changed
