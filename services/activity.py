"""Activity in volume and what it adds up to: client events (/v1/events), trending, search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import ArticleBumped, ArticleUnbumped, ArticleViewed, Event, UserFollowed, UserUnfollowed
from events.ids import new_event_id
from events.log import Position
from reducers.engagement import RECENT
from services.errors import BadQuery, Conflict, Forbidden, Invalid, NotFound, TooLarge
from services.outcome import Written
from services.ports import Ports
from services.privacy import open_authors, readable
from services.views import CardView, TribeView, card_views, tribe_views
from services.writer import digest_of, now_ms

Body = dict[str, Any]
MAX_EVENTS = 1000
ACCEPTED: dict[str, type[Event]] = {
    cls.__name__: cls for cls in (ArticleViewed, ArticleBumped, ArticleUnbumped, UserFollowed, UserUnfollowed)
}
"""The event types clients may send in volume."""
TOGGLES_PER_TARGET = RECENT
"""Bumps and unbumps of one article, or follows and unfollows of one user, a batch may hold (`_few_toggles_each`)."""
TREND_WINDOWS: dict[str, tuple[int, str]] = {"1h": (3_600_000, "5m"), "24h": (86_400_000, "1h")}
"""A trending window: its length (ms) and the size of the buckets that cover it."""
TREND_CANDIDATES = 1_000
"""The best-scored articles of a window whose tags make the trending tags."""

SEARCH_OVERFETCH = 3
"""How many times the asked size an article search reads, to fill it after leaving out what the viewer may not read."""

_ON_ARTICLES = (ArticleViewed, ArticleBumped, ArticleUnbumped)
_ON_USERS = (UserFollowed, UserUnfollowed)


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One event as a client sent it: its type, its own id (for safe retries) and its checked payload."""

    type: type[Event]
    event_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Recorded:
    event_ids: list[str]
    written: Written


@dataclass(frozen=True, slots=True)
class Trending:
    articles: list[tuple[int, CardView]]
    tags: list[tuple[str, int]]


async def record(ports: Ports, actor_id: str, sent: Sequence[ClientEvent]) -> Recorded:
    """Append a batch of client events, without waiting for the views.

    Every article and followee named must exist (the first event that fails is reported);
    one get per collection for the whole batch, not one per event. Bumps, unbumps, follows
    and unfollows are appended as sent: the reducers settle repeats, up to TOGGLES_PER_TARGET
    of one target in a batch (`_few_toggles_each`). A client's event id names
    an event of this actor: resent with the same payload it keeps its first position where the
    log can tell (the embedded log), with another payload it is a Conflict. The embedded log
    takes the batch all-or-nothing; Kafka may take part of it, and its Unavailable lists which
    events are durable.
    """
    if not sent:
        raise Invalid("body", "must be a non-empty JSON array of events")
    if len(sent) > MAX_EVENTS:
        raise TooLarge("body", f"holds more than {MAX_EVENTS} events")
    occurred_at = now_ms()
    events = [
        e.type(event_id=e.event_id or new_event_id(), actor_id=actor_id, occurred_at=occurred_at, **e.payload)
        for e in sent
    ]
    _few_toggles_each(events)
    await _check_references(ports, actor_id, events)
    unique, where = _once_each(events)
    written = await ports.writer.append(unique)
    return Recorded([e.event_id for e in events], Written(tuple(written.positions[i] for i in where)))


def _few_toggles_each(events: Sequence[Event]) -> None:
    """Invalid past TOGGLES_PER_TARGET bumps and unbumps of one article, or follows and unfollows of one user.

    The actor's document remembers its `RECENT` latest events on the target, which is how a count
    tells, when a write was cut and the batch comes again, what each of them moved
    (reducers/engagement.py); a request of a thousand toggles would let a cut write miscount by
    hundreds. No client toggles one thing seventeen times at once.
    """
    toggles: dict[tuple[str, str], set[str]] = {}
    for index, event in enumerate(events):
        if isinstance(event, (ArticleBumped, ArticleUnbumped)):
            field, target = "article_id", event.article_id
        elif isinstance(event, _ON_USERS):
            field, target = "followee_id", event.followee_id
        else:
            continue
        ids = toggles.setdefault((field, target), set())
        ids.add(event.event_id)  # a repeated id is one event (`_once_each`)
        if len(ids) > TOGGLES_PER_TARGET:
            raise Invalid(f"events[{index}].{field}", f"is toggled more than {TOGGLES_PER_TARGET} times in one batch")


def _once_each(events: Sequence[Event]) -> tuple[list[Event], list[int]]:
    """The batch with an event id it repeats kept once, and where each event is among those kept.

    The copies would share their time and id, which is how the reducers tell an event they have
    counted (reducers/engagement.py `mark`): a log that appends both (Kafka) would count the event
    twice. A repeat with another payload is a Conflict, as the embedded log answers it.
    """
    first: dict[str, int] = {}
    unique: list[Event] = []
    where: list[int] = []
    for index, event in enumerate(events):
        kept = first.setdefault(event.event_id, len(unique))
        if kept == len(unique):
            unique.append(event)
        elif digest_of(unique[kept]) != digest_of(event):
            raise Conflict(f"events[{index}].event_id", "names another event of this batch, which said something else")
        where.append(kept)
    return unique, where


async def _check_references(ports: Ports, actor_id: str, events: Sequence[Event]) -> None:
    """Reads the articles, users and blocks views: a reference made a moment ago may not be there yet (404).

    An article of a private author the actor may not read is not there either (services/privacy.py).
    """
    article_ids = sorted({e.article_id for e in events if isinstance(e, _ON_ARTICLES)})
    followee_ids = sorted({e.followee_id for e in events if isinstance(e, _ON_USERS)})
    cards = await readable(ports, actor_id, await ports.social.cards(article_ids, actor_id)) if article_ids else []
    live_articles = {c["article_id"] for c in cards}
    users = await ports.reads.users(followee_ids) if followee_ids else {}
    followed = sorted({e.followee_id for e in events if isinstance(e, UserFollowed)})
    blockers = await ports.social.blockers_among(actor_id, followed) if followed else set()
    for index, event in enumerate(events):
        if isinstance(event, _ON_ARTICLES):
            if event.article_id not in live_articles:
                raise NotFound(f"events[{index}].article_id")
        elif isinstance(event, _ON_USERS):
            if event.followee_id == actor_id:
                raise Invalid(f"events[{index}].followee_id", "you cannot follow yourself")
            if event.followee_id not in users:
                raise NotFound(f"events[{index}].followee_id")
            if isinstance(event, UserFollowed) and event.followee_id in blockers:
                raise Forbidden(f"events[{index}].followee_id", "is not allowed: you have been blocked")


async def trending(
    ports: Ports, window: str, limit: int, viewer: str | None, after: Sequence[Position] = ()
) -> Trending:
    """Top articles and tags by bumps and comments over the last hour or day (5-minute or hourly buckets).

    A tag scores what the best-scored articles that carry it now scored (reducers/trending.py says
    why the buckets hold articles only): the top TREND_CANDIDATES live articles, so a read costs one
    batched get of at most that many, however many articles the window saw. Articles of private
    authors the viewer may not read are left out before the top is cut, and their tags do not score.
    """
    if window not in TREND_WINDOWS:
        raise BadQuery("window", "must be one of " + ", ".join(TREND_WINDOWS))
    await ports.writer.caught_up(after)
    length, bucket = TREND_WINDOWS[window]
    now = now_ms()
    scores = await ports.social.trend_scores(bucket, now - length, now)
    candidates = sorted((a for a, s in scores.items() if s > 0), key=lambda a: (-scores[a], a))[:TREND_CANDIDATES]
    tagged = await ports.social.trend_tags(candidates, viewer)
    authors = await ports.social.article_authors([a for a in candidates if a in tagged])
    opened = await open_authors(ports, viewer, await ports.reads.users(sorted(set(authors.values()))))
    top = [a for a in candidates if a in tagged and authors.get(a) in opened]
    tag_scores: dict[str, int] = {}
    for article_id in top:
        for tag in tagged[article_id]:
            tag_scores[tag] = tag_scores.get(tag, 0) + scores[article_id]
    cards = await card_views(ports, await ports.social.cards(top[: limit * 2], viewer), viewer)
    tags = sorted(tag_scores.items(), key=lambda ts: (-ts[1], ts[0]))[:limit]
    return Trending([(scores[c.card["article_id"]], c) for c in cards[:limit]], tags)


async def search_articles(
    ports: Ports, words: str | None, tag: str | None, size: int, viewer: str | None, after: Sequence[Position] = ()
) -> list[CardView]:
    """Live articles with all these words, this tag, or both (None: not given); an empty one given is refused.

    Asks for SEARCH_OVERFETCH times `size`, so that articles of private authors the viewer may not
    read, left out, seldom leave the answer short.
    """
    if words is None and tag is None:
        raise BadQuery("q", "give words to find (q), a tag, or both")
    if words is not None and not words:
        raise BadQuery("q", "give words to find, or leave q out")
    if tag is not None and not tag:
        raise BadQuery("tag", "give a tag, or leave tag out")
    await ports.writer.caught_up(after)
    docs = await ports.social.search_articles(words, tag, size * SEARCH_OVERFETCH, viewer)
    return (await card_views(ports, docs, viewer))[:size]


async def search_users(ports: Ports, prefix: str, size: int, after: Sequence[Position] = ()) -> list[Body]:
    if not prefix:
        raise BadQuery("prefix", "give the start of a username")
    await ports.writer.caught_up(after)
    ids = await ports.social.search_usernames(prefix, size)
    users = await ports.reads.users(ids)
    return [users[i] for i in ids if i in users]


async def search_tribes(
    ports: Ports, words: str, size: int, viewer: str | None, after: Sequence[Position] = ()
) -> list[TribeView]:
    if not words:
        raise BadQuery("q", "give words of a tribe's name")
    await ports.writer.caught_up(after)
    docs, _ = await ports.social.tribe_page(words, size, None)
    return await tribe_views(ports, docs, viewer)
