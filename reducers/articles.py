"""Article cards: an article with its tribe, counts of bumps (Conduit's favorites), views and comments, and feed rank.

Every article event is keyed by article id, so an article, its comments, its bumps and its
view receipts are fed by one partition. Engagement is a document of its own (a bump per
(article, user), a comment per (article, comment id), a receipt per counted view), and the
card keeps only counts and its few latest bumpers: the n-th bump writes what the first one
did. Each document's new state follows from its own state and the event; the card's counts
follow from its own state, the event, and the engagement document's record of that very
event (reducers/engagement.py), so a redelivered event completes a bulk write a non-atomic
store kept only part of. Engagement documents are written whatever the card's state (a bump
of a deleted article is still the user's bump); only a live card counts.

A moderation decision (ModerationDecided, services/moderation.py) hides or restores a card or a
comment: the reads leave hidden ones out (projections/queries.py). A hidden comment still counts
in its card's `comments_count`, as a deleted article's bumps stay the bumpers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticleErased,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentErased,
    CommentPosted,
    Event,
    ModerationDecided,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Article, Bump, Comment, ViewReceipt
from reducers.engagement import counted, latest, mark, step
from reducers.moderation import decision_applies
from reducers.ranking import rank

ARTICLES = "articles"
BUMPS = "bumps"
COMMENTS = "comments"
VIEW_RECEIPTS = "view_receipts"
LATEST_BUMPERS = 3
"""Bumpers a card names ("alice, bob and 40 others")."""


def comment_doc_id(article_id: str, comment_id: int) -> str:
    return f"{article_id}:{comment_id}"


def bump_id(article_id: str, user_id: str) -> str:
    """One user's bump of one article; the article id keeps it in the article's partition."""
    return f"{article_id}:{user_id}"


def view_receipt_id(article_id: str, actor_id: str, event_id: str) -> str:
    """One small receipt per counted view; the article id keeps it in the article's partition.

    Client event ids are unique per actor only (two users may send the same one), so the actor is
    part of the name.
    """
    return f"{article_id}:{actor_id}:{event_id}"


def _view_keys(event: ArticleViewed) -> tuple[DocKey, DocKey]:
    """The card a view counts on and its receipt."""
    receipt = view_receipt_id(event.article_id, event.actor_id, event.event_id)
    return (ARTICLES, event.article_id), (VIEW_RECEIPTS, receipt)


def _decided_key(event: ModerationDecided) -> DocKey | None:
    """The card or comment a decision is about; None for a target this view does not hold."""
    if event.target_kind == "article" and event.target_id == event.article_id:
        return (ARTICLES, event.article_id)
    if event.target_kind == "comment" and event.target_id.isascii() and event.target_id.isdigit():
        return (COMMENTS, comment_doc_id(event.article_id, int(event.target_id)))
    return None


def _live(article: Article | None) -> TypeGuard[Article]:
    return article is not None and not article["deleted"]


def _ranked(article: Article) -> Article:
    """The card with its rank recomputed from its counts."""
    return {
        **article,
        "rank": rank(article["created_at"], article["favorites_count"], article["comments_count"], article["views"]),
    }


def _with_comments(article: Article, delta: int) -> Article:
    """The card after a comment was posted (+1) or deleted (-1); never below zero, like every count."""
    return _ranked({**article, "comments_count": max(0, article["comments_count"] + delta)})


class ArticlesReducer(Reducer):
    collections = (ARTICLES, BUMPS, COMMENTS, VIEW_RECEIPTS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    @keys.register(ArticleEdited)
    @keys.register(ArticleDeleted)
    @keys.register(ArticleErased)
    def _(self, event: ArticlePublished | ArticleEdited | ArticleDeleted | ArticleErased) -> tuple[DocKey, ...]:
        return ((ARTICLES, event.article_id),)

    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped) -> tuple[DocKey, ...]:
        return ((ARTICLES, event.article_id), (BUMPS, bump_id(event.article_id, event.actor_id)))

    @keys.register(ArticleViewed)
    def _(self, event: ArticleViewed) -> tuple[DocKey, ...]:
        return _view_keys(event)

    @keys.register(CommentPosted)
    @keys.register(CommentDeleted)
    @keys.register(CommentErased)
    def _(self, event: CommentPosted | CommentDeleted | CommentErased) -> tuple[DocKey, ...]:
        return ((ARTICLES, event.article_id), (COMMENTS, comment_doc_id(event.article_id, event.comment_id)))

    @keys.register(ModerationDecided)
    def _(self, event: ModerationDecided) -> tuple[DocKey, ...]:
        key = _decided_key(event)
        return () if key is None else (key,)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ModerationDecided)
    def _(self, event: ModerationDecided, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """Hide or restore the card or comment; the latest decision in the log stands (but see `decision_applies`)."""
        key = _decided_key(event)
        if key is None or event.action not in ("hide", "restore"):
            return {}
        held_doc = docs.get(key)
        if held_doc is None:
            return {}
        moderated_at = held_doc.get("moderated_at")
        if not decision_applies(event, moderated_at if isinstance(moderated_at, int) else None):
            return {}
        return {key: {**held_doc, "hidden": event.action == "hide", "moderated_at": event.occurred_at}}

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
            "favorites_count": 0,
            "latest_bumpers": [],
            "comments_count": 0,
            "views": 0,
            "deleted": False,
            "hidden": False,
            "moderated_at": None,
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

    @apply.register(ArticleErased)
    def _(self, event: ArticleErased, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """Its author was erased: the card is deleted and forgets all they wrote.

        The card's new text is fixed, whatever it held: a replay after the erasure reads the
        author's sealed fields as empty, and must end where the live card did. Its counts and
        times are no one's writing and stay.
        """
        key = (ARTICLES, event.article_id)
        article = held(docs, key, Article)
        if article is None or article["author_id"] != event.actor_id:
            return {}
        erased: Article = {
            **article, "slug": "", "title": "", "description": "", "body": "", "tags": [], "deleted": True,
            "updated_at": event.occurred_at,
        }
        return {key: erased}

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The bump document records the user's state; a live card counts their transition.

        `favorites_count` cannot double count: the fold applies a bump to the card only while
        the card has not applied it, and a repeat (bump after bump) is a 0 transition. It cannot
        miss: the transition comes from the bump document's record of this very event when the
        document already reflects it (a partial write kept it, not the card), and from its state
        otherwise (reducers/engagement.py says within which bound).
        """
        article_key, bump_key = self.keys(event)
        bump = held(docs, bump_key, Bump)
        bumping = isinstance(event, ArticleBumped)
        moved = step(bump, event, bumping)
        changed: dict[DocKey, Body] = {}
        if moved.recent is not None:
            recorded: Bump = {
                "article_id": event.article_id,
                "user_id": event.actor_id,
                "active": moved.after,
                "updated_at": event.occurred_at if bump is None or moved.delta else bump["updated_at"],
                "recent": moved.recent,
            }
            changed[bump_key] = recorded
        article = held(docs, article_key, Article)
        if _live(article) and moved.delta:
            changed[article_key] = _ranked(
                {
                    **article,
                    "favorites_count": counted(article["favorites_count"], moved),
                    "latest_bumpers": latest(article["latest_bumpers"], event.actor_id, moved, LATEST_BUMPERS),
                }
            )
        return changed

    @apply.register(ArticleViewed)
    def _(self, event: ArticleViewed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """One view per event id: a log that cannot deduplicate (Kafka) may hold a client's retry twice.

        Each view event leaves a receipt named by its actor and event id, holding the time of the event
        that wrote it: an insert of a few bytes per view, where a list of an article's recent
        ids would be copied, scanned and rewritten whole on every view. `views` cannot double
        count: a retry of the id, appended at another time, finds the receipt of the first and
        counts nothing, and the fold applies a view to the card only while the card has not
        applied it. It cannot miss: a receipt holding this event's own time was written by this
        event, so a card that has not applied it (its write was lost) still counts it.
        """
        key, receipt_key = _view_keys(event)
        receipt = held(docs, receipt_key, ViewReceipt)
        changed: dict[DocKey, Body] = {}
        if receipt is None:
            written: ViewReceipt = {
                "article_id": event.article_id,
                "event_id": event.event_id,
                "occurred_at": event.occurred_at,
            }
            changed[receipt_key] = written
        article = held(docs, key, Article)
        if _live(article) and (receipt is None or receipt["occurred_at"] == event.occurred_at):
            changed[key] = _ranked({**article, "views": article["views"] + 1})
        return changed

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The first post of a comment id creates it; a live card counts it.

        `comments_count` cannot double count: only the event that created the comment (its mark
        is the comment's `posted_as`) counts, once, while the card has not applied it. It cannot
        miss: that event finds its own mark in the comment even when a partial write kept the
        comment and lost the card.
        """
        article_key, comment_key = self.keys(event)
        comment = held(docs, comment_key, Comment)
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
                "posted_as": mark(event),
                "deleted_as": None,
                "hidden": False,
                "moderated_at": None,
            }
            changed[comment_key] = posted
        article = held(docs, article_key, Article)
        if _live(article) and (comment is None or comment["posted_as"] == mark(event)):
            changed[article_key] = _with_comments(article, +1)
        return changed

    @apply.register(CommentDeleted)
    @apply.register(CommentErased)
    def _(self, event: CommentDeleted | CommentErased, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """Its author deletes a comment once; a live card counts it out, by the same rule as posting.

        An erasure (CommentErased) deletes it too, and empties its text even if it was deleted before.
        """
        article_key, comment_key = self.keys(event)
        comment = held(docs, comment_key, Comment)
        if comment is None or comment["author_id"] != event.actor_id:
            return {}
        changed: dict[DocKey, Body] = {}
        if not comment["deleted"]:
            deleted: Comment = {**comment, "deleted": True, "updated_at": event.occurred_at, "deleted_as": mark(event)}
            changed[comment_key] = deleted
        if isinstance(event, CommentErased):
            changed[comment_key] = {**changed.get(comment_key, comment), "body": ""}
        article = held(docs, article_key, Article)
        if _live(article) and (not comment["deleted"] or comment["deleted_as"] == mark(event)):
            changed[article_key] = _with_comments(article, -1)
        return changed
