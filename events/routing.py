"""The routing table: which topic each event type goes to, and by which key.

Every event that feeds one read-model document must land, in order, in one
partition. That is what lets a document's version be the offset of the last
event applied to it.

| event types                                   | topic          | key             | partitions (default) |
|-----------------------------------------------|----------------|-----------------|----------------------|
| UserRegistered, UserUpdated, UserLoggedOut,   | tribe.users    | actor_id        | 1                    |
|   ProfilePrivacySet, UserErased               |                |                 |                      |
| UserFollowed, UserUnfollowed,                 | tribe.follows  | actor_id        | 4                    |
|   UserBlocked, UserUnblocked                  |                |                 |                      |
| FollowApproved, FollowDenied                  | tribe.follows  | follower_id     | 4                    |
| Article*, Comment* (ArticleErased, CommentErased too) | tribe.articles | article_id | 8              |
| TribeCreated, TribeJoined, TribeLeft          | tribe.tribes   | tribe_id        | 4                    |
| NotificationsRead                             | tribe.inbox    | actor_id        | 4                    |
| ArticleDelivered (the fan-out's)              | tribe.articles | article_id      | 8                    |
| AudienceOutgrown (the fan-out's)              | tribe.follows  | source_id       | 4                    |
| ContentReported, ModerationDecided,           | tribe.articles | article_id      | 8                    |
|   ContentReportErased                         |                |                 |                      |
| UserReported, UserModerated, UserReportErased | tribe.users    | target_id       | 1                    |
| ModeratorGranted, ModeratorRevoked            | tribe.users    | user_id         | 1                    |

A timeline entry is a document per (reader, article), fed by the article's deliveries: one
partition, the article's. An outgrown audience is a document per author or tribe, fed by the
partition of its id in `tribe.follows`.

Moderation (services/moderation.py) keeps one queue document per reported target and one report
per (target, reporter), fed by the target's partition: an article's or a comment's reports and
decisions go with the article's events, a user's with the user's. A route has one topic per event
type, so reports and decisions about users are types of their own (UserReported, UserModerated)
rather than a kind of ContentReported; the moderator role is granted in `tribe.users`, whose
users view keeps it.

`tribe.users` has one partition on purpose: usernames and e-mails are unique
and "the log decides" means the first claim in one total order wins.
Registrations are rare, so one partition is no bottleneck.

The counts above are the defaults. A deployment may set others (TRIBE_PARTITIONS): the
composition root installs them once per process (`use_topology`, before any log, store,
view or app is built), and every reader asks `partitions(topic)` / `partition_for` when it
needs a count, never a copy taken at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from events.catalogue import (
    EVENT_TYPES,
    ArticleBumped,
    ArticleDeleted,
    ArticleDelivered,
    ArticleEdited,
    ArticleErased,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    AudienceOutgrown,
    CommentDeleted,
    CommentErased,
    CommentPosted,
    ContentReported,
    ContentReportErased,
    Event,
    FollowApproved,
    FollowDenied,
    ModerationDecided,
    ModeratorGranted,
    ModeratorRevoked,
    TribeCreated,
    TribeJoined,
    TribeLeft,
    UserModerated,
    UserReported,
    UserReportErased,
)

USERS = "tribe.users"
FOLLOWS = "tribe.follows"
ARTICLES = "tribe.articles"
TRIBES = "tribe.tribes"
INBOX = "tribe.inbox"

DEFAULT_PARTITIONS: Mapping[str, int] = {USERS: 1, FOLLOWS: 4, ARTICLES: 8, TRIBES: 4, INBOX: 4}
"""Every topic of the routing table, with the partitions it has unless TRIBE_PARTITIONS says otherwise."""


class BadTopology(ValueError):
    """Partition counts this application cannot run on; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Topology:
    """Partitions per topic: every topic of the routing table with its count."""

    counts: tuple[tuple[str, int], ...] = tuple(DEFAULT_PARTITIONS.items())

    def __post_init__(self) -> None:
        named = [topic for topic, _ in self.counts]
        if sorted(named) != sorted(DEFAULT_PARTITIONS):
            raise BadTopology(f"a topology names every topic once ({', '.join(DEFAULT_PARTITIONS)}), not {named}")
        for topic, count in self.counts:
            if count < 1:
                raise BadTopology(f"{topic}={count}: a topic has at least 1 partition")
        if self.partitions(USERS) != 1:
            raise BadTopology(
                f"{USERS}={self.partitions(USERS)}: {USERS} keeps 1 partition, because the log decides who gets "
                "a username or e-mail by one total order of registrations"
            )

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Topology:
        """The defaults, with `counts` for the topics it names."""
        unknown = sorted(set(counts) - set(DEFAULT_PARTITIONS))
        if unknown:
            raise BadTopology(f"{unknown[0]} is not a topic of the routing table ({', '.join(DEFAULT_PARTITIONS)})")
        return cls(tuple((topic, counts.get(topic, default)) for topic, default in DEFAULT_PARTITIONS.items()))

    @classmethod
    def parse(cls, text: str) -> Topology:
        """`TOPIC=N,TOPIC=N` (TRIBE_PARTITIONS); topics not named keep their defaults."""
        counts: dict[str, int] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            topic, _, count = (side.strip() for side in part.partition("="))
            if not (count.isascii() and count.isdigit()):
                raise BadTopology(f"{part!r} is not TOPIC=PARTITIONS, like {ARTICLES}=16")
            if topic in counts:
                raise BadTopology(f"{topic} is named twice")
            counts[topic] = int(count)
        return cls.of(counts)

    def partitions(self, topic: str) -> int:
        return next(count for name, count in self.counts if name == topic)

    def __str__(self) -> str:
        return ",".join(f"{topic}={count}" for topic, count in self.counts)


DEFAULT_TOPOLOGY = Topology()
_topology = DEFAULT_TOPOLOGY
_counts: dict[str, int] = dict(DEFAULT_TOPOLOGY.counts)


def use_topology(topology: Topology) -> None:
    """Install the process's partition counts. Only the composition root calls it, once, from Settings."""
    global _topology, _counts
    _topology, _counts = topology, dict(topology.counts)


def topology() -> Topology:
    """The partition counts this process runs on."""
    return _topology


def partitions(topic: str) -> int:
    """How many partitions `topic` has in this process's topology."""
    return _counts[topic]


E = TypeVar("E", bound=Event)

ArticleEvent = (
    ContentReported
    | ContentReportErased
    | ModerationDecided
    | ArticlePublished
    | ArticleEdited
    | ArticleDeleted
    | ArticleBumped
    | ArticleUnbumped
    | ArticleViewed
    | ArticleDelivered
    | CommentPosted
    | CommentDeleted
    | ArticleErased
    | CommentErased
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


def _by_source(event: AudienceOutgrown) -> str:
    return event.source_id


def _by_follower(event: FollowApproved | FollowDenied) -> str:
    """A private user's answer to a follow request goes where the follow is: the follower's partition."""
    return event.follower_id


def _by_target(event: UserReported | UserModerated | UserReportErased) -> str:
    return event.target_id


def _by_user(event: ModeratorGranted | ModeratorRevoked) -> str:
    return event.user_id


# Looked up by an event's type name, so an entry's event type is not known statically: Route[Any].
# test_routing checks that every type's route takes its events.
ROUTES: dict[str, Route[Any]] = {
    "UserRegistered": Route(USERS, _by_actor),
    "UserUpdated": Route(USERS, _by_actor),
    "UserLoggedOut": Route(USERS, _by_actor),
    "ProfilePrivacySet": Route(USERS, _by_actor),
    "UserErased": Route(USERS, _by_actor),
    "UserFollowed": Route(FOLLOWS, _by_actor),
    "UserUnfollowed": Route(FOLLOWS, _by_actor),
    "FollowApproved": Route(FOLLOWS, _by_follower),
    "FollowDenied": Route(FOLLOWS, _by_follower),
    "ArticlePublished": Route(ARTICLES, _by_article),
    "ArticleEdited": Route(ARTICLES, _by_article),
    "ArticleDeleted": Route(ARTICLES, _by_article),
    "ArticleBumped": Route(ARTICLES, _by_article),
    "ArticleUnbumped": Route(ARTICLES, _by_article),
    "ArticleViewed": Route(ARTICLES, _by_article),
    "CommentPosted": Route(ARTICLES, _by_article),
    "CommentDeleted": Route(ARTICLES, _by_article),
    "ArticleErased": Route(ARTICLES, _by_article),
    "CommentErased": Route(ARTICLES, _by_article),
    "UserBlocked": Route(FOLLOWS, _by_actor),
    "UserUnblocked": Route(FOLLOWS, _by_actor),
    "TribeCreated": Route(TRIBES, _by_tribe),
    "TribeJoined": Route(TRIBES, _by_tribe),
    "TribeLeft": Route(TRIBES, _by_tribe),
    "NotificationsRead": Route(INBOX, _by_actor),
    "ArticleDelivered": Route(ARTICLES, _by_article),
    "AudienceOutgrown": Route(FOLLOWS, _by_source),
    "ContentReported": Route(ARTICLES, _by_article),
    "ContentReportErased": Route(ARTICLES, _by_article),
    "ModerationDecided": Route(ARTICLES, _by_article),
    "UserReported": Route(USERS, _by_target),
    "UserReportErased": Route(USERS, _by_target),
    "UserModerated": Route(USERS, _by_target),
    "ModeratorGranted": Route(USERS, _by_user),
    "ModeratorRevoked": Route(USERS, _by_user),
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


def key_hash(key: str) -> int:
    """The non-negative murmur2 of a key, which `partition_for` takes modulo the topic's partitions."""
    return murmur2(key.encode()) & 0x7FFFFFFF


def partition_for(topic: str, key: str) -> int:
    return key_hash(key) % _counts[topic]


def source_of(event: Event) -> tuple[str, int]:
    """The (topic, partition) an event is routed to: pure, so reducers may key shard documents by it."""
    route = ROUTES[event.type]
    return route.topic, partition_for(route.topic, route.key(event))
