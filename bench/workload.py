"""A deterministic stream of events shaped like the social network's traffic, and ways to load it.

The stream is generated step by step, so a log of 10^4 events is the first 10^4 events of a
log of 10^6: the growth figures compare prefixes of one workload. Its shape:

- a user registers every `register_every` events, and each new user follows a few
  earlier ones when follows are switched on;
- an article is published every `publish_every` events by a random user;
- the other events go to one of the `window` most recently published articles (recent
  articles get the traffic, so no document grows without bound as the log grows):
  views, bumps and unbumps, comments and their deletion.

Every event is encoded by the API's own EventWriter, so the bytes on the log are exactly
what `POST /v1/events` and the Conduit API would have appended.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentDeleted,
    CommentPosted,
    Event,
    UserFollowed,
    UserRegistered,
)
from events.codec import EventCodec
from events.log import Log, Record

BASE_TIME_MS = 1_700_000_000_000
# scrypt of "bench-password" is not needed by any figure: registrations carry a fixed hash.
PASSWORD_HASH = "scrypt$16384$8$1$YmVuY2gtc2FsdA==$YmVuY2gtZGlnZXN0LWJlbmNoLWRpZ2VzdC0xMjM0NTY="


def user_id(n: int) -> str:
    return f"U{n:011d}"


def article_id(n: int) -> str:
    return f"A{n:011d}"


def slug(n: int) -> str:
    return f"bench-article-{n}"


def publication(n: int, author: str, at: int) -> ArticlePublished:
    """Article n, published by `author` at `at` (ms): what the growth figures publish."""
    return ArticlePublished(
        event_id=f"P{n:015d}",
        actor_id=author,
        occurred_at=at,
        article_id=article_id(n),
        slug=slug(n),
        title=f"Post {n}",
        description="d",
        body="b",
        tags=("x",),
    )


@dataclass
class Shape:
    register_every: int = 50
    publish_every: int = 200
    window: int = 1000
    initial_users: int = 20
    follows_per_user: int = 0  # UserFollowed events each new user makes (0: no follows at all)
    # Weights of the article events between publications.
    views: int = 70
    bumps: int = 12
    unbumps: int = 3
    comments: int = 10
    comment_deletes: int = 2


@dataclass
class Generated:
    """What a prefix of the stream created, for building requests against it."""

    users: int = 0
    articles: int = 0
    comments: list[tuple[int, int, str]] = field(default_factory=list)  # (comment id, article n, author)


def events(n: int, shape: Shape | None = None, *, seed: int = 7, into: Generated | None = None) -> Iterator[Event]:
    """The first `n` events of the workload."""
    shape = shape or Shape()
    rng = random.Random(seed)
    state = into if into is not None else Generated()
    emitted = 0
    next_comment = 1
    live_comments: list[tuple[int, int, str]] = []
    weights = [shape.views, shape.bumps, shape.unbumps, shape.comments, shape.comment_deletes]
    kinds = ["view", "bump", "unbump", "comment", "uncomment"]

    def envelope() -> dict[str, object]:
        return {"event_id": f"B{seed:03d}E{emitted:012d}", "occurred_at": BASE_TIME_MS + emitted}

    def random_user() -> str:
        return user_id(rng.randrange(state.users))

    next_register = 0
    next_publish = 0
    while emitted < n:
        if state.users < shape.initial_users or emitted >= next_register:
            next_register = emitted + shape.register_every
            me = state.users
            state.users += 1
            yield UserRegistered(
                **envelope(),
                actor_id=user_id(me),
                username=f"user{me}",
                email=f"user{me}@bench.example",
                password_hash=PASSWORD_HASH,
            )
            emitted += 1
            for _ in range(min(shape.follows_per_user, me)):
                if emitted >= n:
                    return
                yield UserFollowed(**envelope(), actor_id=user_id(me), followee_id=user_id(rng.randrange(me)))
                emitted += 1
            continue
        if emitted >= next_publish:
            next_publish = emitted + shape.publish_every
            a = state.articles
            state.articles += 1
            yield ArticlePublished(
                **envelope(),
                actor_id=random_user(),
                article_id=article_id(a),
                slug=slug(a),
                title=f"Bench article {a}",
                description="An article the benchmark wrote",
                body="Lorem ipsum dolor sit amet, " * 8,
                tags=(f"tag{a % 50}", f"topic{a % 7}"),
            )
            emitted += 1
            continue
        a = state.articles - 1 - rng.randrange(min(shape.window, state.articles))
        kind = rng.choices(kinds, weights)[0]
        if kind == "view":
            yield ArticleViewed(**envelope(), actor_id=random_user(), article_id=article_id(a), referrer="bench")
        elif kind == "bump":
            yield ArticleBumped(**envelope(), actor_id=random_user(), article_id=article_id(a))
        elif kind == "unbump":
            yield ArticleUnbumped(**envelope(), actor_id=random_user(), article_id=article_id(a))
        elif kind == "comment":
            author = random_user()
            comment = (next_comment, a, author)
            next_comment += 1
            live_comments.append(comment)
            state.comments.append(comment)
            yield CommentPosted(
                **envelope(), actor_id=author, article_id=article_id(a), comment_id=comment[0], body="Nice one"
            )
        elif live_comments:
            cid, ca, author = live_comments.pop(rng.randrange(len(live_comments)))
            yield CommentDeleted(**envelope(), actor_id=author, article_id=article_id(ca), comment_id=cid)
        else:
            yield ArticleViewed(**envelope(), actor_id=random_user(), article_id=article_id(a), referrer=None)
        emitted += 1


async def records(codec: EventCodec, events_: Sequence[Event]) -> list[Record]:
    """The log records the API would append for these events (same keys, encoding and partition).

    As EventWriter.append: the actors' keys loaded (a new user's made), then the events sealed and encoded.
    """
    from services.writer import records_of

    await codec.prepare(events_)
    return records_of(events_, codec)


async def fill(log: Log, codec: EventCodec, stream: Iterator[Event], *, batch: int = 5000) -> dict[str, int]:
    """Append the stream to a log through its port, sealed with `codec`; return how many events went to each topic."""
    per_topic: dict[str, int] = {}
    chunk: list[Event] = []

    async def flush() -> None:
        recs = await records(codec, chunk)
        for r in recs:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        await log.append(recs)
        chunk.clear()

    for event in stream:
        chunk.append(event)
        if len(chunk) >= batch:
            await flush()
    if chunk:
        await flush()
    return per_topic
