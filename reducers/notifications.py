"""Notifications, grouped at write time: "alice and 41 others bumped <article>".

One group document per (kind, target) in the partition of its source events:
bumps and comments of an article (keyed by article), a follow (keyed by the
follower), a mention (keyed by the comment's article). Groups hold the set of
actors, so their counts are derived and redelivery changes nothing. Nobody is
notified of their own actions. The view keeps its own index of article authors
and titles (from the same partition), so it reads no other view.
"""

from __future__ import annotations

from typing import Mapping

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    CommentPosted,
    Event,
    NotificationsRead,
    UserFollowed,
    UserUnfollowed,
)
from reducers.base import Body, DocKey, Reducer, by_event_type

NOTIFICATIONS = "notifications"
ARTICLE_INDEX = "notification_articles"
READ_MARKS = "notification_marks"


def _meta_key(article_id: str) -> DocKey:
    return (ARTICLE_INDEX, article_id)


def _group(kind: str, target: str) -> DocKey:
    return (NOTIFICATIONS, f"{kind}:{target}")


def _with_actor(group: Body | None, *, recipient: str, kind: str, event: Event, article: Body | None, add: bool) -> Body:
    actors = set(group["actors"]) if group else set()
    if add:
        actors.add(event.actor_id)
    else:
        actors.discard(event.actor_id)
    latest = max(group["latest_at"], event.occurred_at) if group and add else (group["latest_at"] if group else event.occurred_at)
    return {
        "recipient_id": recipient,
        "kind": kind,
        "article_id": article["article_id"] if article else None,
        "article_title": article["title"] if article else None,
        "comment_id": None,
        "actors": sorted(actors),
        "count": len(actors),
        "latest_actor_id": event.actor_id if add else (group["latest_actor_id"] if group else event.actor_id),
        "latest_at": latest,
        "active": bool(actors),
    }


class NotificationsReducer(Reducer):
    collections = (NOTIFICATIONS, ARTICLE_INDEX, READ_MARKS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    @keys.register(ArticleEdited)
    def _(self, event: ArticlePublished | ArticleEdited) -> tuple[DocKey, ...]:
        return (_meta_key(event.article_id),)

    @keys.register(ArticleDeleted)
    def _(self, event: ArticleDeleted) -> tuple[DocKey, ...]:
        return (_meta_key(event.article_id), _group("bump", event.article_id), _group("comment", event.article_id))

    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped) -> tuple[DocKey, ...]:
        return (_meta_key(event.article_id), _group("bump", event.article_id))

    @keys.register(CommentPosted)
    def _(self, event: CommentPosted) -> tuple[DocKey, ...]:
        mentions = tuple(_group("mention", f"{event.comment_id}:{user}") for user in event.mentions)
        return (_meta_key(event.article_id), _group("comment", event.article_id), *mentions)

    @keys.register(UserFollowed)
    @keys.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed) -> tuple[DocKey, ...]:
        return (_group("follow", f"{event.followee_id}:{event.actor_id}"),)

    @keys.register(NotificationsRead)
    def _(self, event: NotificationsRead) -> tuple[DocKey, ...]:
        return ((READ_MARKS, event.actor_id),)

    @by_event_type
    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        return {}

    @apply.register(ArticlePublished)
    def _(self, event: ArticlePublished, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = _meta_key(event.article_id)
        if docs.get(key) is not None:
            return {}
        return {key: {"article_id": event.article_id, "author_id": event.actor_id, "title": event.title, "deleted": False}}

    @apply.register(ArticleEdited)
    def _(self, event: ArticleEdited, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = _meta_key(event.article_id)
        meta = docs.get(key)
        if meta is None or meta["author_id"] != event.actor_id or event.title is None:
            return {}
        return {key: {**meta, "title": event.title}}

    @apply.register(ArticleDeleted)
    def _(self, event: ArticleDeleted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, *groups = self.keys(event)
        meta = docs.get(meta_key)
        if meta is None or meta["author_id"] != event.actor_id:
            return {}
        changed: dict[DocKey, Body] = {meta_key: {**meta, "deleted": True}}
        for key in groups:
            group = docs.get(key)
            if group is not None:
                changed[key] = {**group, "active": False}
        return changed

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, group_key = self.keys(event)
        meta = docs.get(meta_key)
        if meta is None or meta["deleted"] or meta["author_id"] == event.actor_id:
            return {}
        add = isinstance(event, ArticleBumped)
        return {group_key: _with_actor(docs.get(group_key), recipient=meta["author_id"], kind="bump", event=event, article=meta, add=add)}

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, group_key, *mention_keys = self.keys(event)
        meta = docs.get(meta_key)
        if meta is None or meta["deleted"]:
            return {}
        changed: dict[DocKey, Body] = {}
        if meta["author_id"] != event.actor_id:
            changed[group_key] = _with_actor(
                docs.get(group_key), recipient=meta["author_id"], kind="comment", event=event, article=meta, add=True
            )
        for user_id, key in zip(event.mentions, mention_keys):
            if user_id != event.actor_id:
                mention = _with_actor(None, recipient=user_id, kind="mention", event=event, article=meta, add=True)
                changed[key] = {**mention, "comment_id": event.comment_id}
        return changed

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        add = isinstance(event, UserFollowed)
        return {key: _with_actor(docs.get(key), recipient=event.followee_id, kind="follow", event=event, article=None, add=add)}

    @apply.register(NotificationsRead)
    def _(self, event: NotificationsRead, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        mark = docs.get(key)
        if mark is not None and mark["read_up_to"] >= event.up_to:
            return {}
        return {key: {"user_id": event.actor_id, "read_up_to": event.up_to}}
