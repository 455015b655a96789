"""The read models: each a reducer, the topics it reads, its collections' mappings and documents, its version.

Bump a view's `version` when its reducer or a mapping changes; `tribe replay` then
builds the new version beside the live one. Readers name the alias (the logical
collection name); the physical collection is `<alias>_v<version>`.

Each collection's mapping (CollectionSpec) sits next to the TypedDict of its documents
(reducers/documents.py): the reducer is typed against the one, the stores create the other,
and tests/unit/test_document_specs.py checks that they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from events.routing import ARTICLES, FOLLOWS, INBOX, TRIBES, USERS, partitions
from projections.store import CollectionSpec
from reducers.articles import ArticlesReducer
from reducers.base import Reducer
from reducers.documents import (
    Article,
    Block,
    Bump,
    Comment,
    Follow,
    FollowerCount,
    Handle,
    Membership,
    Notification,
    NotificationActor,
    NotificationArticle,
    Outlier,
    QueueItem,
    ReadMark,
    RecentFollows,
    Report,
    TimelineEntry,
    TrendArticle,
    TrendBucket,
    TrendBump,
    Tribe,
    User,
    ViewReceipt,
)
from reducers.follows import FollowsReducer
from reducers.moderation import ModerationReducer
from reducers.notifications import NotificationsReducer
from reducers.timelines import TimelinesReducer
from reducers.trending import TrendingReducer
from reducers.tribes import TribesReducer
from reducers.users import UsersReducer


@dataclass(frozen=True)
class View:
    name: str
    version: int
    reducer: Reducer
    topics: tuple[str, ...]
    collections: dict[str, CollectionSpec]
    documents: dict[str, type[Mapping[str, object]]]  # the TypedDict of each collection's documents
    shared: tuple[str, ...] = ()
    """Collections whose documents events of several record keys feed, or whose documents follow from such
    documents: a dead letter's retry, which applies one key's events after others passed them, may leave
    these behind (projections/dead_letters.py)."""

    def projection_id(self, version: int | None = None) -> str:
        """The id under which a version's checkpoint is stored."""
        return f"{self.name}_v{self.version if version is None else version}"

    def partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) this view reads."""
        return [(topic, partition) for topic in self.topics for partition in range(partitions(topic))]

    def physical(self, alias: str, version: int | None = None) -> str:
        return f"{alias}_v{self.version if version is None else version}"

    def targets(self, version: int | None = None) -> dict[str, str]:
        """Alias to physical collection, for every collection of one version."""
        return {alias: self.physical(alias, version) for alias in self.collections}


USERS_VIEW = View(
    name="users",
    version=6,
    reducer=UsersReducer(),
    topics=(USERS,),
    collections={
        "users": CollectionSpec(
            {
                "user_id": "keyword",
                "registered_by": "keyword",
                "username": "keyword",
                "username_folded": "keyword",
                "email": "keyword",
                "password_hash": "secret",
                "bio": "text",
                "image": "keyword",
                "display_name": "keyword",
                "created_at": "date",
                "updated_at": "date",
                "token_generation": "long",
                "private": "boolean",
                "private_since": "date",
                "handles": "keyword",
                "erased": "boolean",
                "moderator": "boolean",
            },
            lists=frozenset({"handles"}),
        ),
        "handles": CollectionSpec({"kind": "keyword", "user_id": "keyword"}),
    },
    documents={"users": User, "handles": Handle},
    # a username's or e-mail's handle, whoever claims it, whatever their key; and so a user, whose
    # registration is not applied when another user's claim of its name was applied first
    shared=("users", "handles"),
)

FOLLOWS_VIEW = View(
    name="follows",
    version=4,
    reducer=FollowsReducer(),
    topics=(FOLLOWS,),
    collections={
        "follows": CollectionSpec(
            {
                "follower_id": "keyword",
                "followee_id": "keyword",
                "active": "boolean",
                "updated_at": "date",
                "since": "date",
                "approved": "boolean",
                "recent": "keyword",
            },
            lists=frozenset({"recent"}),
            indexed=frozenset({"follower_id", "followee_id", "active", "updated_at", "since", "approved"}),
            compound=frozenset({("follower_id", "active")}),
        ),
        "blocks": CollectionSpec(
            {"blocker_id": "keyword", "blocked_id": "keyword", "active": "boolean", "updated_at": "date"}
        ),
        "recent_follows": CollectionSpec(
            {"user_id": "keyword", "followees": "keyword", "followed_at": "date"},
            lists=frozenset({"followees", "followed_at"}),
            indexed=frozenset(),
        ),
        "follower_counts": CollectionSpec(
            {"user_id": "keyword", "partition": "long", "count": "long"}, indexed=frozenset()
        ),
    },
    documents={
        "follows": Follow,
        "blocks": Block,
        "recent_follows": RecentFollows,
        "follower_counts": FollowerCount,
    },
    shared=("follower_counts",),  # a followee's counter per partition: every follower's key in it
)

ARTICLES_VIEW = View(
    name="articles",
    version=5,
    reducer=ArticlesReducer(),
    topics=(ARTICLES,),
    collections={
        "articles": CollectionSpec(
            {
                "article_id": "keyword",
                "author_id": "keyword",
                "tribe_id": "keyword",
                "slug": "keyword",
                "title": "text",
                "description": "text",
                "body": "text",
                "tags": "keyword",
                "created_at": "date",
                "updated_at": "date",
                "favorites_count": "long",
                "latest_bumpers": "keyword",
                "comments_count": "long",
                "views": "long",
                "rank": "long",
                "deleted": "boolean",
                "hidden": "boolean",
                "moderated_at": "date",
            },
            lists=frozenset({"tags", "latest_bumpers"}),
            indexed=frozenset({"author_id", "tribe_id", "slug", "created_at", "rank", "title", "body"}),
            compound=frozenset(
                {
                    ("author_id", "created_at"),
                    ("tribe_id", "created_at"),
                    ("author_id", "deleted", "favorites_count"),
                    ("tribe_id", "deleted"),
                }
            ),
        ),
        "bumps": CollectionSpec(
            {
                "article_id": "keyword",
                "user_id": "keyword",
                "active": "boolean",
                "updated_at": "date",
                "recent": "keyword",
            },
            lists=frozenset({"recent"}),
            indexed=frozenset({"user_id"}),
        ),
        "view_receipts": CollectionSpec(
            {"article_id": "keyword", "event_id": "keyword", "occurred_at": "date"}, indexed=frozenset()
        ),
        "comments": CollectionSpec(
            {
                "comment_id": "long",
                "article_id": "keyword",
                "author_id": "keyword",
                "body": "text",
                "created_at": "date",
                "updated_at": "date",
                "deleted": "boolean",
                "posted_as": "keyword",
                "deleted_as": "keyword",
                "hidden": "boolean",
                "moderated_at": "date",
            },
            indexed=frozenset({"article_id"}),
        ),
    },
    documents={"articles": Article, "bumps": Bump, "view_receipts": ViewReceipt, "comments": Comment},
)

TRIBES_VIEW = View(
    name="tribes",
    version=2,
    reducer=TribesReducer(),
    topics=(TRIBES,),
    collections={
        "tribes": CollectionSpec(
            {
                "tribe_id": "keyword",
                "name": "text",
                "name_key": "keyword",
                "description": "text",
                "owner_id": "keyword",
                "created_by": "keyword",
                "created_at": "date",
                "member_count": "long",
            },
            indexed=frozenset({"name", "member_count"}),
        ),
        "memberships": CollectionSpec(
            {
                "user_id": "keyword",
                "tribe_id": "keyword",
                "active": "boolean",
                "updated_at": "date",
                "recent": "keyword",
            },
            lists=frozenset({"recent"}),
            indexed=frozenset({"user_id", "tribe_id"}),
        ),
    },
    documents={"tribes": Tribe, "memberships": Membership},
)

NOTIFICATIONS_VIEW = View(
    name="notifications",
    version=2,
    reducer=NotificationsReducer(),
    topics=(ARTICLES, FOLLOWS, INBOX),
    collections={
        "notifications": CollectionSpec(
            {
                "recipient_id": "keyword",
                "kind": "keyword",
                "article_id": "keyword",
                "comment_id": "long",
                "count": "long",
                "latest_actor_id": "keyword",
                "latest_actors": "keyword",
                "latest_at": "date",
                "active": "boolean",
            },
            lists=frozenset({"latest_actors"}),
            indexed=frozenset({"recipient_id", "latest_at"}),
        ),
        "notification_actors": CollectionSpec(
            {"group_id": "keyword", "actor_id": "keyword", "active": "boolean", "recent": "keyword"},
            lists=frozenset({"recent"}),
            indexed=frozenset(),
        ),
        "notification_articles": CollectionSpec({"article_id": "keyword", "author_id": "keyword"}, indexed=frozenset()),
        "notification_marks": CollectionSpec({"user_id": "keyword", "read_up_to": "date"}, indexed=frozenset()),
    },
    documents={
        "notifications": Notification,
        "notification_actors": NotificationActor,
        "notification_articles": NotificationArticle,
        "notification_marks": ReadMark,
    },
)

TRENDING_VIEW = View(
    name="trending",
    version=4,
    reducer=TrendingReducer(),
    topics=(ARTICLES,),
    collections={
        "trend_buckets": CollectionSpec(
            {"window": "keyword", "start": "date", "partition": "long", "articles": "object"},
            indexed=frozenset(),
        ),
        "trend_articles": CollectionSpec(
            {
                "article_id": "keyword",
                "author_id": "keyword",
                "tags": "keyword",
                "deleted": "boolean",
                "hidden": "boolean",
                "moderated_at": "date",
            },
            lists=frozenset({"tags"}),
            indexed=frozenset(),
        ),
        "trend_bumps": CollectionSpec(
            {"article_id": "keyword", "user_id": "keyword", "active": "boolean", "recent": "keyword"},
            lists=frozenset({"recent"}),
            indexed=frozenset(),
        ),
    },
    documents={"trend_buckets": TrendBucket, "trend_articles": TrendArticle, "trend_bumps": TrendBump},
    shared=("trend_buckets",),  # a window's bucket per partition: every article's key in it
)

TIMELINES_VIEW = View(
    name="timelines",
    version=1,
    reducer=TimelinesReducer(),
    topics=(ARTICLES, FOLLOWS),
    collections={
        "timeline": CollectionSpec(
            {
                "reader_id": "keyword",
                "article_id": "keyword",
                "author_id": "keyword",
                "tribe_id": "keyword",
                "created_at": "date",
                "by_author": "boolean",
                "by_tribe": "boolean",
            },
            indexed=frozenset({"reader_id", "created_at"}),
        ),
        "outliers": CollectionSpec({"kind": "keyword", "source_id": "keyword", "since": "date"}, indexed=frozenset()),
    },
    documents={"timeline": TimelineEntry, "outliers": Outlier},
)

MODERATION_VIEW = View(
    name="moderation",
    version=1,
    reducer=ModerationReducer(),
    topics=(ARTICLES, USERS),
    collections={
        "moderation_queue": CollectionSpec(
            {
                "target_kind": "keyword",
                "target_id": "keyword",
                "article_id": "keyword",
                "reports": "long",
                "reasons": "keyword",
                "first_reported_at": "date",
                "last_reported_at": "date",
                "state": "keyword",
                "pending": "long",
                "decided_by": "keyword",
                "decided_source": "keyword",
                "decided_at": "date",
                "decision_reason": "text",
            },
            lists=frozenset({"reasons"}),
            indexed=frozenset({"target_kind", "state", "pending", "reports", "last_reported_at"}),
        ),
        "moderation_reports": CollectionSpec(
            {
                "target_key": "keyword",
                "reporter_id": "keyword",
                "reason": "keyword",
                "note": "text",
                "reported_at": "date",
                "reported_as": "keyword",
            },
            indexed=frozenset(),
        ),
    },
    documents={"moderation_queue": QueueItem, "moderation_reports": Report},
)

VIEWS: tuple[View, ...] = (
    USERS_VIEW,
    FOLLOWS_VIEW,
    ARTICLES_VIEW,
    TRIBES_VIEW,
    NOTIFICATIONS_VIEW,
    TRENDING_VIEW,
    TIMELINES_VIEW,
    MODERATION_VIEW,
)
