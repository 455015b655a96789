"""Notifications, grouped at write time: "alice and 41 others bumped <article>".

One group document per (kind, target) in the partition of its source events: bumps and
comments of an article (keyed by article), a follow (keyed by the follower), a mention (keyed
by the comment's article). A group keeps its count, its latest actor and its few latest
actors, never the set of them: the actors of an article's bump and comment groups are
documents of their own, one per (group, actor), in the article's partition
(reducers/engagement.py); a follow or a mention has one actor, so its group is that document.
Nobody is notified of their own actions.

The view keeps its own index of article authors (from the same partition), so it reads no
other view. An author never changes, so a group follows from its own state, the event, the
article's author and its actor's record of the event. Titles and whether an article or
comment is still there are read with the groups (services/notifications.py); so are blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleErased,
    ArticlePublished,
    ArticleUnbumped,
    CommentPosted,
    Event,
    NotificationsRead,
    UserFollowed,
    UserUnfollowed,
)
from reducers.base import Body, DocKey, Reducer, by_event_type, held
from reducers.documents import Notification, NotificationActor, NotificationArticle, ReadMark
from reducers.engagement import Step, counted, latest, step

NOTIFICATIONS = "notifications"
ACTORS = "notification_actors"
ARTICLE_INDEX = "notification_articles"
READ_MARKS = "notification_marks"
LATEST_ACTORS = 5
"""Actors a group names, newest first: enough to name one when a reader has blocked a few."""


def _meta_key(article_id: str) -> DocKey:
    return (ARTICLE_INDEX, article_id)


def group_id(kind: str, target: str) -> str:
    return f"{kind}:{target}"


def _group(kind: str, target: str) -> DocKey:
    return (NOTIFICATIONS, group_id(kind, target))


def _mention(article_id: str, comment_id: int, user_id: str) -> DocKey:
    """The group of one user mentioned in one comment. Comment ids made before they were unique by
    construction (events/ids.py) can repeat across articles, so the article is part of the id."""
    return _group("mention", f"{article_id}:{comment_id}:{user_id}")


def _actor(kind: str, target: str, actor_id: str) -> DocKey:
    """One actor of a group; the group's id first keeps it in the group's partition."""
    return (ACTORS, f"{group_id(kind, target)}:{actor_id}")


def _empty(recipient_id: str, kind: str, article_id: str | None, event: Event) -> Notification:
    """A group before its first actor."""
    return {
        "recipient_id": recipient_id,
        "kind": kind,
        "article_id": article_id,
        "comment_id": None,
        "count": 0,
        "latest_actor_id": event.actor_id,
        "latest_actors": [],
        "latest_at": event.occurred_at,
        "active": False,
    }


def _moved(group: Notification, moved: Step, event: Event) -> Notification:
    """The group after its actor's step (a step that moves: +1 or -1).

    `count` cannot double count: the fold applies an event to the group only while the group
    has not applied it, and a repeat is a 0 step, which changes nothing. It cannot miss: the
    step comes from the actor's record of this very event when a partial write kept the
    actor's document and lost the group (reducers/engagement.py says within which bound).
    """
    actors = latest(group["latest_actors"], event.actor_id, moved, LATEST_ACTORS)
    count = counted(group["count"], moved)
    joined = moved.delta > 0
    return {
        **group,
        "count": count,
        "latest_actors": actors,
        "latest_actor_id": event.actor_id if joined else (actors[0] if actors else group["latest_actor_id"]),
        "latest_at": max(group["latest_at"], event.occurred_at) if joined else group["latest_at"],
        "active": count > 0,
    }


def _acting(
    docs: Mapping[DocKey, Body | None], kind: str, target: str, event: Event, engaged: bool, *, once: bool = False
) -> tuple[dict[DocKey, Body], Step]:
    """The event's actor's step in a group, and their document's new body if it needs one."""
    key = _actor(kind, target, event.actor_id)
    actor = held(docs, key, NotificationActor)
    moved = step(actor, event, engaged, once=once)
    if moved.recent is None:
        return {}, moved
    written: NotificationActor = {
        "group_id": group_id(kind, target),
        "actor_id": event.actor_id,
        "active": moved.after,
        "recent": moved.recent,
    }
    return {key: written}, moved


class NotificationsReducer(Reducer):
    collections = (NOTIFICATIONS, ACTORS, ARTICLE_INDEX, READ_MARKS)

    @by_event_type
    def keys(self, event: Event) -> tuple[DocKey, ...]:
        return ()

    @keys.register(ArticlePublished)
    def _(self, event: ArticlePublished) -> tuple[DocKey, ...]:
        return (_meta_key(event.article_id),)

    @keys.register(ArticleDeleted)
    @keys.register(ArticleErased)
    def _(self, event: ArticleDeleted | ArticleErased) -> tuple[DocKey, ...]:
        return (_meta_key(event.article_id), _group("bump", event.article_id), _group("comment", event.article_id))

    @keys.register(ArticleBumped)
    @keys.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped) -> tuple[DocKey, ...]:
        return (
            _meta_key(event.article_id),
            _group("bump", event.article_id),
            _actor("bump", event.article_id, event.actor_id),
        )

    @keys.register(CommentPosted)
    def _(self, event: CommentPosted) -> tuple[DocKey, ...]:
        mentions = tuple(_mention(event.article_id, event.comment_id, user) for user in event.mentions)
        return (
            _meta_key(event.article_id),
            _group("comment", event.article_id),
            _actor("comment", event.article_id, event.actor_id),
            *mentions,
        )

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
        meta: NotificationArticle = {"article_id": event.article_id, "author_id": event.actor_id}
        return {key: meta}

    @apply.register(ArticleDeleted)
    @apply.register(ArticleErased)
    def _(self, event: ArticleDeleted | ArticleErased, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """The article's groups leave the reader's newest groups (reads leave out deleted articles anyway)."""
        meta_key, *groups = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None or meta["author_id"] != event.actor_id:
            return {}
        changed: dict[DocKey, Body] = {}
        for key in groups:
            group = held(docs, key, Notification)
            if group is not None and group["active"]:
                inactive: Notification = {**group, "active": False}
                changed[key] = inactive
        return changed

    @apply.register(ArticleBumped)
    @apply.register(ArticleUnbumped)
    def _(self, event: ArticleBumped | ArticleUnbumped, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        meta_key, group_key, _ = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None or meta["author_id"] == event.actor_id:
            return {}
        changed, moved = _acting(docs, "bump", event.article_id, event, isinstance(event, ArticleBumped))
        if moved.delta:
            group = held(docs, group_key, Notification) or _empty(meta["author_id"], "bump", event.article_id, event)
            changed[group_key] = _moved(group, moved, event)
        return changed

    @apply.register(CommentPosted)
    def _(self, event: CommentPosted, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """Commenters group by article (once each: a second comment adds nobody); each mention is a group of its own."""
        meta_key, group_key, _, *mention_keys = self.keys(event)
        meta = held(docs, meta_key, NotificationArticle)
        if meta is None:
            return {}
        changed: dict[DocKey, Body] = {}
        if meta["author_id"] != event.actor_id:
            changed, moved = _acting(docs, "comment", event.article_id, event, True, once=True)
            if moved.delta:
                group = held(docs, group_key, Notification) or _empty(
                    meta["author_id"], "comment", event.article_id, event
                )
                changed[group_key] = _moved(group, moved, event)
        for user_id, key in zip(event.mentions, mention_keys):
            if user_id != event.actor_id and docs.get(key) is None:
                mention: Notification = {
                    **_moved(_empty(user_id, "mention", event.article_id, event), _ONE, event),
                    "comment_id": event.comment_id,
                }
                changed[key] = mention
        return changed

    @apply.register(UserFollowed)
    @apply.register(UserUnfollowed)
    def _(self, event: UserFollowed | UserUnfollowed, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        """A follow's group has one actor, the follower: it is their document, on or off."""
        (key,) = self.keys(event)
        group = held(docs, key, Notification)
        following = isinstance(event, UserFollowed)
        if bool(group and group["active"]) == following:
            return {}
        moved = _ONE if following else _OFF
        return {key: _moved(group or _empty(event.followee_id, "follow", None, event), moved, event)}

    @apply.register(NotificationsRead)
    def _(self, event: NotificationsRead, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        (key,) = self.keys(event)
        mark = held(docs, key, ReadMark)
        if mark is not None and mark["read_up_to"] >= event.up_to:
            return {}
        read: ReadMark = {"user_id": event.actor_id, "read_up_to": event.up_to}
        return {key: read}


_ONE = Step(before=False, after=True, recent=None)
"""The step of a group's only actor arriving (a mention, a follow)."""
_OFF = Step(before=True, after=False, recent=None)
"""The step of a follow's only actor leaving."""
