"""A burst of realistic events for the Kafka tests: users, articles, bumps, comments, views, follows."""

from __future__ import annotations

import random
from collections.abc import Iterator

from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    ArticleUnbumped,
    ArticleViewed,
    CommentPosted,
    Event,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
)
from events.ids import new_event_id


def burst(total: int, *, seed: int = 7, users: int = 40, articles: int = 60) -> Iterator[Event]:
    """`total` events: the users and articles first, then a random mix of everything that refers to them."""
    rng = random.Random(seed)
    clock = 1_700_000_000_000
    user_ids = [f"user{u:04d}" for u in range(users)]
    for u in user_ids:
        clock += 1
        yield UserRegistered(
            event_id=new_event_id(clock),
            actor_id=u,
            occurred_at=clock,
            username=u,
            email=f"{u}@example.com",
            password_hash="x",
        )
    article_ids = [f"article{a:04d}" for a in range(articles)]
    for a in article_ids:
        clock += 1
        yield ArticlePublished(
            event_id=new_event_id(clock),
            actor_id=rng.choice(user_ids),
            occurred_at=clock,
            article_id=a,
            slug=a,
            title=f"Title {a}",
            description="d",
            body="b",
            tags=("t",),
        )
    comment_id = 1
    for _ in range(total - users - articles):
        clock += 1
        actor, article = rng.choice(user_ids), rng.choice(article_ids)
        common = {"event_id": new_event_id(clock), "actor_id": actor, "occurred_at": clock}
        kind = rng.random()
        if kind < 0.25:
            yield ArticleBumped(**common, article_id=article)
        elif kind < 0.35:
            yield ArticleUnbumped(**common, article_id=article)
        elif kind < 0.55:
            comment_id += 1
            yield CommentPosted(**common, article_id=article, comment_id=comment_id, body=f"comment {comment_id}")
        elif kind < 0.80:
            yield ArticleViewed(**common, article_id=article)
        elif kind < 0.93:
            yield UserFollowed(**common, followee_id=rng.choice(user_ids))
        else:
            yield UserUnfollowed(**common, followee_id=rng.choice(user_ids))
