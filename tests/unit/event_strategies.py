"""Hypothesis strategies for events, built from the catalogue's dataclass fields.

A new event type in EVENT_TYPES is covered without touching this module, as long
as its fields use the types below (str, int, bool, optional str, tuple of str).
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from itertools import groupby

from hypothesis import strategies as st

from events.catalogue import (
    EVENT_TYPES,
    ArticlePublished,
    CommentDeleted,
    CommentPosted,
    Event,
    TribeCreated,
    TribeJoined,
    TribeLeft,
)
from events.sealing import handle_digest
from reducers.base import Reducer, State, fold
from reducers.engagement import RECENT

# Avro strings are UTF-8: lone surrogates cannot be written, so they are not events.
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)

LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# occurred_at is a timestamp-millis long: any long must come back as the same int, not via a datetime
# (which would cut it to years 1..9999).
_SPECIAL: dict[str, st.SearchStrategy] = {"occurred_at": LONG}


def _for_type(hint: object) -> st.SearchStrategy:
    if hint is str:
        return TEXT
    if hint is bool:
        return st.booleans()
    if hint is int:
        return LONG
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, __import__("types").UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | _for_type(inner)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(_for_type(args[0]), max_size=5).map(tuple)
    raise TypeError(f"no strategy for field type {hint!r}")


@cache
def events_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: _SPECIAL[f.name] if f.name in _SPECIAL else _for_type(hints[f.name])
        for f in dataclasses.fields(cls)
    }
    return st.builds(cls, **fields)


def any_event() -> st.SearchStrategy[Event]:
    return st.one_of([events_of(cls) for cls in EVENT_TYPES.values()])


# -- logs over a small universe, where events collide on users, handles, articles and comments --

USER_IDS = ("u1", "u2", "u3", "u4")
ARTICLE_IDS = ("a1", "a2", "a3")
# Comment ids are unique across articles, as the API's numeric ids are meant to be.
COMMENT_IDS = {"a1": (11, 12, 13), "a2": (21, 22), "a3": (31,)}
USERNAMES = ("alice", "Alice", "ALICE", "bob", "Bob", "carol")
EMAILS = ("a@x.io", "A@X.IO", "b@x.io", "B@x.io", "c@x.io")
TAGS = ("go", "py", "rs")
WORDS = ("one", "two", "three")

_user = st.sampled_from(USER_IDS)
_article = st.sampled_from(ARTICLE_IDS)
_word = st.sampled_from(WORDS)
_maybe_word = st.none() | _word
# For fields the universe does not know by name: values that collide with user and article ids.
_POOL = st.sampled_from((*USER_IDS, *ARTICLE_IDS, *WORDS))


def _pooled(hint: object) -> st.SearchStrategy:
    if hint is str:
        return _POOL
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(0, 5)
    args = typing.get_args(hint)
    if type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | _pooled(inner)
    if typing.get_origin(hint) is tuple:
        return st.lists(_pooled(args[0]), max_size=3).map(tuple)
    raise TypeError(f"no universe strategy for field type {hint!r}")


def _step(cls: type[Event], **given: st.SearchStrategy) -> st.SearchStrategy[Event]:
    """Events of `cls`: the given fields as given, any other field from the pool; ids and times set by `logs`."""
    hints = typing.get_type_hints(cls)
    fields = {"event_id": st.just(""), "occurred_at": st.just(0), "actor_id": _user, **given}
    for f in dataclasses.fields(cls):
        if f.name not in fields:
            fields[f.name] = _pooled(hints[f.name])
    return st.builds(cls, **fields)


def _comment(cls: type[Event], **extra: st.SearchStrategy) -> st.SearchStrategy[Event]:
    return _article.flatmap(
        lambda a: _step(cls, article_id=st.just(a), comment_id=st.sampled_from(COMMENT_IDS[a]), **extra)
    )


HANDLE_KEY = b"handles-key-of-these-tests-32by."
"""The key the codec of these tests would make handle digests with (events/sealing.py)."""


def handle_of(kind: str, value: str) -> str:
    """The id of the handle document of a username or e-mail, as decoded events carry it."""
    return handle_digest(HANDLE_KEY, kind, value)


def with_handles(event: Event) -> Event:
    """A registration or update as the codec decodes it: with the digests of the handles it claims."""
    username, email = event.username, event.email
    return dataclasses.replace(
        event,  # type: ignore[type-var]
        username_handle="" if username is None else handle_of("username", username),
        email_handle="" if email is None else handle_of("email", email),
    )


REASONS = ("spam", "abuse")


def _content_target(cls: type[Event], **extra: st.SearchStrategy) -> st.SearchStrategy[Event]:
    """A report or decision about an article of the universe, or one of its comments."""

    def about(a: str) -> st.SearchStrategy[Event]:
        article = _step(cls, target_kind=st.just("article"), target_id=st.just(a), article_id=st.just(a), **extra)
        comment = _step(
            cls,
            target_kind=st.just("comment"),
            target_id=st.sampled_from([str(c) for c in COMMENT_IDS[a]]),
            article_id=st.just(a),
            **extra,
        )
        return article | comment

    return _article.flatmap(about)


def universe_events() -> dict[str, st.SearchStrategy[Event]]:
    """One strategy per event type in the catalogue, over the small universe.

    Types and fields named here get values chosen to collide where the reducers care
    (handles, authors, comment ids); any other type or field is filled from a pool of
    user ids, article ids and words, so a new event type is generated from the start.
    """
    from events import catalogue as c

    known = {
        "UserRegistered": _step(
            c.UserRegistered,
            username=st.sampled_from(USERNAMES),
            email=st.sampled_from(EMAILS),
            password_hash=_word,
        ).map(with_handles),
        "UserUpdated": _step(
            c.UserUpdated,
            username=st.none() | st.sampled_from(USERNAMES),
            email=st.none() | st.sampled_from(EMAILS),
            bio=_maybe_word,
            image=st.sampled_from((None, "", "img.png")),
            password_hash=_maybe_word,
        ).map(with_handles),
        "UserFollowed": _step(c.UserFollowed, followee_id=_user),
        "UserUnfollowed": _step(c.UserUnfollowed, followee_id=_user),
        "ArticlePublished": _step(
            c.ArticlePublished,
            article_id=_article,
            slug=_word,
            title=_word,
            description=_word,
            body=_word,
            tags=st.lists(st.sampled_from(TAGS), max_size=4).map(tuple),
        ),
        "ArticleEdited": _step(
            c.ArticleEdited,
            article_id=_article,
            slug=_maybe_word,
            title=_maybe_word,
            description=_maybe_word,
            body=_maybe_word,
        ),
        "ArticleDeleted": _step(c.ArticleDeleted, article_id=_article),
        "ArticleBumped": _step(c.ArticleBumped, article_id=_article),
        "ArticleUnbumped": _step(c.ArticleUnbumped, article_id=_article),
        "ArticleViewed": _step(c.ArticleViewed, article_id=_article, referrer=_maybe_word),
        "CommentPosted": _comment(c.CommentPosted, body=_word),
        "CommentDeleted": _comment(c.CommentDeleted),
        "ContentReported": _content_target(c.ContentReported, reason=st.sampled_from(REASONS)),
        "ModerationDecided": _content_target(
            c.ModerationDecided,
            action=st.sampled_from(("hide", "restore")),
            source=st.sampled_from(("moderator", "classifier")),
        ),
        "UserReported": _step(c.UserReported, target_id=_user, reason=st.sampled_from(REASONS)),
        "UserModerated": _step(c.UserModerated, target_id=_user, action=st.sampled_from(("suspend", "unsuspend"))),
        "ModeratorGranted": _step(c.ModeratorGranted, user_id=_user),
        "ModeratorRevoked": _step(c.ModeratorRevoked, user_id=_user),
    }
    return {name: known[name] if name in known else _step(cls) for name, cls in EVENT_TYPES.items()}


def number(events: list[Event]) -> list[Event]:
    """Give each event a unique id and a time that grows with its place in the list."""
    return [
        dataclasses.replace(e, event_id=f"e{i:04d}", occurred_at=1_700_000_000_000 + i)
        for i, e in enumerate(events)
    ]


def logs(*type_names: str, max_size: int = 40) -> st.SearchStrategy[list[Event]]:
    """Event sequences over the universe, of the given types (all types if none given).

    A few publications and registrations are drawn first so that later events
    usually find something to act on; the rest are in any order, including
    events that come before the document they need exists.
    """
    steps = universe_events()
    names = type_names or tuple(EVENT_TYPES)
    assert set(names) <= set(steps), f"unknown event types {set(names) - set(steps)}"
    head = [st.lists(steps[name], max_size=3) for name in ("ArticlePublished", "UserRegistered") if name in names]
    body = st.lists(st.one_of([steps[n] for n in names]), max_size=max_size)
    return st.tuples(*head, body).map(lambda parts: number([e for part in parts for e in part]))


def created_first(events: list[Event]) -> list[Event]:
    """What the API can append: nothing about an article, tribe or comment before it exists (it reads it first).

    Events for one article (or tribe) share its partition, and the API reads the projected
    article, tribe or comment before it appends an event about it, so the creation always
    comes first.
    """
    articles: set[str] = set()
    tribes: set[str] = set()
    comments: set[tuple[str, int]] = set()
    kept = []
    for e in events:
        article_id = getattr(e, "article_id", None)
        if isinstance(e, ArticlePublished):
            articles.add(e.article_id)
        elif isinstance(e, TribeCreated):
            tribes.add(e.tribe_id)
        elif (
            (article_id is not None and article_id not in articles)
            or (isinstance(e, (TribeJoined, TribeLeft)) and e.tribe_id not in tribes)
            or (isinstance(e, CommentDeleted) and (e.article_id, e.comment_id) not in comments)
        ):
            continue
        elif isinstance(e, CommentPosted):
            comments.add((e.article_id, e.comment_id))
        kept.append(e)
    return kept


# -- logs where users act again and again on a few targets: what engagement documents are about --

_ARTICLE_TYPES = tuple(n for n in EVENT_TYPES if n.startswith(("Article", "Comment")))
# Engagement is drawn more often than the rest, bumps most.
_ENGAGING = ("ArticleBumped", "ArticleUnbumped") * 4 + ("ArticleViewed", "CommentPosted", "CommentDeleted")
ENGAGEMENT_LOGS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    # view: (the event that creates a target, the event types drawn, whether the log is in the API's
    # order: nothing about an article, tribe or comment before it exists)
    "articles": ("ArticlePublished", (*_ARTICLE_TYPES, *_ENGAGING), True),
    "tribes": ("TribeCreated", ("TribeCreated", "TribeJoined", "TribeLeft", "TribeJoined", "TribeLeft"), False),
    "notifications": ("ArticlePublished", (*_ARTICLE_TYPES, *_ENGAGING, "UserFollowed", "UserUnfollowed"), True),
    "trending": ("ArticlePublished", (*_ARTICLE_TYPES, *_ENGAGING), True),
    "follows": ("UserFollowed", ("UserFollowed", "UserUnfollowed", "FollowApproved", "FollowDenied", "UserBlocked",
                                 "UserUnblocked"), False),
    "timelines": ("ArticleDelivered", ("ArticleDelivered", "AudienceOutgrown"), False),
    "moderation": ("ContentReported", ("ContentReported", "UserReported", "ModerationDecided", "UserModerated",
                                       "ContentReportErased", "UserReportErased"), False),
}
"""Why the articles and notifications logs are in the API's order: a comment deleted before it was posted,
or a bump of an article before its publication, could find the comment or the article created by a kept write.

The users view is not here (README, "Faults stay local", limits): uniqueness is decided across documents, a
user's and the handles they claim. A cut write that kept a handle freed by a later erasure lets a redelivered
registration that had lost the handle create its user; one that kept the user erased makes a redelivered
change skip its claim, which leaves the handle at an older version."""


def _crowded(event: Event, crowd: bool) -> Event:
    """The event by one of two users on one article or tribe, when `crowd`: every target sees repeated actors."""
    if not crowd:
        return event
    fields = {"actor_id": "u1" if event.actor_id in ("u1", "u3") else "u2"}
    fields |= {name: "a1" for name in ("article_id", "tribe_id") if hasattr(event, name)}
    return dataclasses.replace(event, **fields)


def _within_bound(events: list[Event]) -> list[Event]:
    """At most RECENT events of one user on one article or tribe: the bound within which counts are exact."""
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for event in events:
        pair = (event.actor_id, getattr(event, "article_id", None) or getattr(event, "tribe_id", ""))
        seen[pair] = seen.get(pair, 0) + 1
        if seen[pair] <= RECENT:
            kept.append(event)
    return kept


@st.composite
def engagement_logs(draw: st.DrawFn, view: str) -> list[Event]:
    """A log for `view` over the small universe, or over a crowd of two users acting on one target."""
    creation, types, ordered = ENGAGEMENT_LOGS[view]
    steps = universe_events()
    head = draw(st.lists(steps[creation], min_size=1, max_size=2), label="creations")
    body = draw(st.lists(st.one_of([steps[t] for t in types]), min_size=20, max_size=60), label="events")
    crowd = draw(st.sampled_from((True, True, True, False)), label="crowded")
    events = _within_bound([_crowded(e, crowd) for e in number(head + body)])
    return created_first(events) if ordered else events


def place(events: list[Event]) -> list[tuple[str, int, int, Event]]:
    """(topic, partition, offset, event) for each event appended in order, by the routing table."""
    from events.routing import ROUTES, partition_for

    next_offset: dict[tuple[str, int], int] = {}
    placed = []
    for event in events:
        route = ROUTES[event.type]
        tp = (route.topic, partition_for(route.topic, route.key(event)))
        offset = next_offset.get(tp, 0)
        next_offset[tp] = offset + 1
        placed.append((*tp, offset, event))
    return placed


def versioned(events: list[Event]) -> list[tuple[int, Event]]:
    """(version, event) pairs: the version of an event is its offset in its partition + 1."""
    return [(offset + 1, event) for _, _, offset, event in place(events)]


def replay(reducer: Reducer, pairs: list[tuple[int, Event]], state: State | None = None) -> State:
    """The state after folding `pairs` onto `state`, carried as a runtime carries it in its store."""
    out = dict(state or {})
    out.update(fold(reducer, out, pairs))
    return out


def folded_partition_by_partition(reducer: Reducer, events: list[Event], data: st.DataObject) -> tuple[State, State]:
    """(the fold of the log in order, the fold one partition at a time in a drawn order and batch size).

    The runtimes read one partition at a time, in batches: the two must be equal.
    """
    placed = place(events)
    at_once = replay(reducer, [(o + 1, e) for _, _, o, e in placed])
    by_partition = {
        tp: [(o + 1, e) for _, _, o, e in group]
        for tp, group in groupby(sorted(placed, key=lambda p: (p[0], p[1], p[2])), key=lambda p: (p[0], p[1]))
    }
    order = data.draw(st.permutations(sorted(by_partition)), label="partition order")
    batch = data.draw(st.integers(1, 8), label="batch size")
    state: State = {}
    for tp in order:
        pairs = by_partition[tp]
        for start in range(0, len(pairs), batch):
            state = replay(reducer, pairs[start : start + batch], state)
    return at_once, state


def folded_in_batches(reducer: Reducer, events: list[Event], data: st.DataObject) -> tuple[State, State]:
    """(the fold of the whole log at once, the fold cut into drawn batches carrying state across them)."""
    pairs = versioned(events)
    at_once = replay(reducer, pairs)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(pairs)), max_size=6), label="cuts"))
    state: State = {}
    for start, end in zip([0, *cuts], [*cuts, len(pairs)]):
        state = replay(reducer, pairs[start:end], state)
    return at_once, state
