"""Notifications, grouped at write time: "alice and 41 others bumped <article>".

One group document per (kind, target) in the partition of its source events:
bumps and comments of an article (keyed by article), a follow (keyed by the
follower), a mention (keyed by the comment's article). Groups hold the set of
actors, so their counts are derived and redelivery changes nothing. Nobody is
notified of their own actions. The view keeps its own index of article authors
and titles (from the same partition), so it reads no other view.
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
    NotificationsRead,
    UserFollowed,
    UserUnfollowed,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Notification, NotificationArticle, ReadMark

NOTIFICATIONS = "notifications"
ARTICLE_INDEX = "notification_articles"
READ_MARKS = "notification_marks"


def _meta_key(article_id: str) -> DocKey:
    return (ARTICLE_INDEX, article_id)


def _group(kind: str, target: str) -> DocKey:
    return (NOTIFICATIONS, f"{kind}:{target}")


def _with_actor(
    group: Notification | None,
    *,
    recipient: str,
    kind: str,
    event: Event,
    article: NotificationArticle | None,
    add: bool,
) -> Notification:
    actors = set(group["actors"]) if group else set()
    if add:
        actors.add(event.actor_id)
    else:
        actors.discard(event.actor_id)
    if group and add:
        latest = max(group["latest_at"], event.occurred_at)
    else:
        latest = group["latest_at"] if group else event.occurred_at
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
        meta: NotificationArticle = {
            "article_id": event.article_id,
            "author_id": event.actor_id,
            "title": event.title,
            "deleted": False,
        }
        return {key: meta}

    @apply.register(ArticleEdited)
    def _(self, event: ArticleEdited, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        key = _meta_key(event.article_id)
        meta = held(docs, key, NotificationArticle)
        if meta is None or meta["author_id"] != event.actor_id or event.title is None:
            return {}
        retitled: NotificationArticle = {**meta, "title": event.title}
        return {key: retitled}

    @apply.register(ArticleDeleted)
    def _(self, event: ArticleDeleted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, *groups = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None or meta["author_id"] != event.actor_id:
            return {}
        deleted: NotificationArticle = {**meta, "deleted": True}
        changed: dict[DocKey, Body] = {meta_key: deleted}
        for key in groups:
            group = held(docs, key, Notification)
            if group is not None:
                inactive: Notification = {**group, "active": False}
                changed[key] = inactive
        return changed

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, group_key = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None or meta["deleted"] or meta["author_id"] == event.actor_id:
            return {}
        add = isinstance(event, ArticleBumped)
        group = held(docs, group_key, Notification)
        bumps = _with_actor(group, recipient=meta["author_id"], kind="bump", event=event, article=meta, add=add)
        return {group_key: bumps}

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, group_key, *mention_keys = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None or meta["deleted"]:
            return {}
        changed: dict[DocKey, Body] = {}
        if meta["author_id"] != event.actor_id:
            group = held(docs, group_key, Notification)
            changed[group_key] = _with_actor(
                group, recipient=meta["author_id"], kind="comment", event=event, article=meta, add=True
            )
        for user_id, key in zip(event.mentions, mention_keys):
            if user_id != event.actor_id:
                mention = _with_actor(None, recipient=user_id, kind="mention", event=event, article=meta, add=True)
                of_comment: Notification = {**mention, "comment_id": event.comment_id}
                changed[key] = of_comment
        return changed

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        add = isinstance(event, UserFollowed)
        group = held(docs, key, Notification)
        return {key: _with_actor(group, recipient=event.followee_id, kind="follow", event=event, article=None, add=add)}

    @apply.register(NotificationsRead)
    def _(self, event: NotificationsRead, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        mark = held(docs, key, ReadMark)
        if mark is not None and mark["read_up_to"] >= event.up_to:
            return {}
        read: ReadMark = {"user_id": event.actor_id, "read_up_to": event.up_to}
        return {key: read}
