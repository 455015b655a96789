"""The routing table: which topic each event type goes to, and by which key.

Every event that feeds one read-model document must land, in order, in one
partition. That is what lets a document's version be the offset of the last
event applied to it.

| event types                                   | topic          | key             | partitions |
|-----------------------------------------------|----------------|-----------------|------------|
| UserRegistered, UserUpdated, UserLoggedOut    | tribe.users    | actor_id        | 1          |
| UserFollowed, UserUnfollowed,                 | tribe.follows  | actor_id        | 4          |
|   UserBlocked, UserUnblocked                  |                |                 |            |
| Article*, Comment*                            | tribe.articles | article_id      | 8          |
| TribeCreated, TribeJoined, TribeLeft          | tribe.tribes   | tribe_id        | 4          |
| NotificationsRead                             | tribe.inbox    | actor_id        | 4          |

`tribe.users` has one partition on purpose: usernames and e-mails are unique
and "the log decides" means the first claim in one total order wins.
Registrations are rare, so one partition is no bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from events.catalogue import (
    EVENT_TYPES,
    ArticleBumped,
    ArticleDeleted,
    ArticleEdited,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
    TribeCreated,
    TribeJoined,
    TribeLeft,
)

USERS = "tribe.users"
FOLLOWS = "tribe.follows"
ARTICLES = "tribe.articles"
TRIBES = "tribe.tribes"
INBOX = "tribe.inbox"

PARTITIONS: dict[str, int] = {USERS: 1, FOLLOWS: 4, ARTICLES: 8, TRIBES: 4, INBOX: 4}


E = TypeVar("E", bound=Event)

ArticleEvent = (
    ArticlePublished
    | ArticleEdited
    | ArticleDeleted
    | ArticleBumped
    | ArticleUnbumped
    | ArticleViewed
    | CommentPosted
    | CommentDeleted
)
TribeEvent = TribeCreated | TribeJoined | TribeLeft


@dataclass(frozen=True, slots=True)
class Route(Generic[E]):
    """Where events of one type go: `key` takes an event of that type."""

    topic: str
    key: Callable[[E], str]


def _by_actor(event: Event) -> str:
    return event.actor_id


def _by_article(event: ArticleEvent) -> str:
    return event.article_id


def _by_tribe(event: TribeEvent) -> str:
    return event.tribe_id


# Looked up by an event's type name, so an entry's event type is not known statically: Route[Any].
# test_routing checks that every type's route takes its events.
ROUTES: dict[str, Route[Any]] = {
    "UserRegistered": Route(USERS, _by_actor),
    "UserUpdated": Route(USERS, _by_actor),
    "UserLoggedOut": Route(USERS, _by_actor),
    "UserFollowed": Route(FOLLOWS, _by_actor),
    "UserUnfollowed": Route(FOLLOWS, _by_actor),
    "ArticlePublished": Route(ARTICLES, _by_article),
    "ArticleEdited": Route(ARTICLES, _by_article),
    "ArticleDeleted": Route(ARTICLES, _by_article),
    "ArticleBumped": Route(ARTICLES, _by_article),
    "ArticleUnbumped": Route(ARTICLES, _by_article),
    "ArticleViewed": Route(ARTICLES, _by_article),
    "CommentPosted": Route(ARTICLES, _by_article),
    "CommentDeleted": Route(ARTICLES, _by_article),
    "UserBlocked": Route(FOLLOWS, _by_actor),
    "UserUnblocked": Route(FOLLOWS, _by_actor),
    "TribeCreated": Route(TRIBES, _by_tribe),
    "TribeJoined": Route(TRIBES, _by_tribe),
    "TribeLeft": Route(TRIBES, _by_tribe),
    "NotificationsRead": Route(INBOX, _by_actor),
}

assert set(ROUTES) == set(EVENT_TYPES), "every event type needs a route"


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's default partitioner), so both logs agree on partitions."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(topic: str, key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS[topic]


def source_of(event: Event) -> tuple[str, int]:
    """The (topic, partition) an event is routed to: pure, so reducers may key shard documents by it."""
    route = ROUTES[event.type]
    return route.topic, partition_for(route.topic, route.key(event))
