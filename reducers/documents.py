"""The document of every collection, as the reducers write it: one TypedDict per collection.

projections/views.py pairs each with its collection's CollectionSpec (the mapping the stores
create, `dynamic: strict` in Elasticsearch). tests/unit/test_document_specs.py checks that the
two name the same fields and that every body a reducer writes fits its spec, so a field the
mapping lacks fails mypy where a reducer builds it and the test where it is written.

Times are milliseconds since the epoch (`date` fields), counts are `long`, ids and names
`keyword`. A field is `| None` where a reducer writes null.
"""

from __future__ import annotations

from typing import TypedDict


class User(TypedDict):
    user_id: str
    registered_by: str
    username: str
    email: str
    password_hash: str
    bio: str
    image: str | None
    display_name: str | None
    created_at: int
    updated_at: int
    token_generation: int  # tokens issued at an older generation are refused: bumped by logouts and new passwords


class Handle(TypedDict):
    kind: str
    value: str
    user_id: str


class Follow(TypedDict):
    follower_id: str
    followee_id: str
    active: bool
    updated_at: int


class Block(TypedDict):
    blocker_id: str
    blocked_id: str
    active: bool
    updated_at: int


class Article(TypedDict):
    """The article card."""

    article_id: str
    author_id: str
    tribe_id: str | None
    slug: str
    title: str
    description: str
    body: str
    tags: list[str]
    created_at: int
    updated_at: int
    favorited_by: list[str]
    favorites_count: int
    comment_ids: list[int]
    comments_count: int
    views: int
    rank: int
    deleted: bool


class ViewReceipt(TypedDict):
    article_id: str
    event_id: str


class Comment(TypedDict):
    comment_id: int
    article_id: str
    author_id: str
    body: str
    created_at: int
    updated_at: int
    deleted: bool


class Tribe(TypedDict):
    tribe_id: str
    name: str
    name_key: str
    description: str
    owner_id: str
    created_by: str
    created_at: int
    members: list[str]
    member_count: int


class Membership(TypedDict):
    user_id: str
    tribe_id: str
    active: bool
    updated_at: int


class Notification(TypedDict):
    """A group: "alice and 41 others bumped <article>"; a mention names its comment."""

    recipient_id: str
    kind: str
    article_id: str | None
    article_title: str | None
    comment_id: int | None
    actors: list[str]
    count: int
    latest_actor_id: str
    latest_at: int
    active: bool


class NotificationArticle(TypedDict):
    """The notifications view's own index of article authors and titles."""

    article_id: str
    author_id: str
    title: str
    deleted: bool


class ReadMark(TypedDict):
    user_id: str
    read_up_to: int


class TrendBucket(TypedDict):
    """Scores of one time bucket of one partition: article id and tag to the sum of their deltas."""

    window: str
    start: int
    partition: int
    articles: dict[str, int]
    tags: dict[str, int]


class TrendArticle(TypedDict):
    article_id: str
    author_id: str
    tags: list[str]
    bumpers: list[str]
    deleted: bool
