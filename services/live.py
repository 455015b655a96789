"""Which events concern a subscriber of the live stream, decided by a pure fold.

`step(audience, event, authors)` is the whole rule: it returns the subscriber's next `Audience` (who
they follow, which tribes they joined, who they blocked and who blocked them) and the message the
event makes for them, if any. Nothing here reads a store or the log; the stream (services/stream.py)
seeds the audience from the read models once, then folds every event it delivers through `step`, so
a follow, a join or a block made while the stream is open takes effect at its place in the log.

What a subscriber receives:

- `feed`: an article published by an author they follow, or into a tribe they joined (the ranked
  feed's sources, /v1/feed), not their own;
- `notification`: what the notifications view (reducers/notifications.py) groups for them — a bump
  of their article (`bump`), a comment on it (`comment`; `mentions_you` when it names them too), a
  comment that mentions them (`mention`), a new follower (`follow`) — never their own action.

Blocks hide both ways: nothing by an author or actor the subscriber blocked, or who blocked them.
An article's author is not in a bump or a comment: `authors` maps article ids to their authors,
which the stream resolves once per batch for every subscriber (services/stream.py `Authors`).

Private profiles: `private` names the authors of the batch's articles who are private (the
stream reads the users view once per batch). Their articles, and mentions in comments on them,
reach only a subscriber whose follow opens them (`Audience.opened`: seeded from the follows view,
then moved by the subscriber's unfollows and the followees' approvals and denials in the log). A
follow made while the stream is open opens nobody private until approved: at worst a message
too few, never one too many; the feed read says the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import singledispatch
from typing import Any

from events.catalogue import (
    ArticleBumped,
    ArticlePublished,
    CommentPosted,
    Event,
    FollowApproved,
    FollowDenied,
    TribeCreated,
    TribeJoined,
    TribeLeft,
    UserBlocked,
    UserFollowed,
    UserUnblocked,
    UserUnfollowed,
)


@dataclass(frozen=True, slots=True)
class Audience:
    """What deciding for one subscriber needs to know about them."""

    user_id: str
    followees: frozenset[str] = frozenset()
    tribes: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    """Users the subscriber blocked."""
    blockers: frozenset[str] = frozenset()
    """Users who blocked the subscriber."""
    opened: frozenset[str] = frozenset()
    """Followees whose follow opens them were they private: approved, or begun before they went private."""

    def hides(self, user_id: str) -> bool:
        return user_id in self.blocked or user_id in self.blockers

    def closed(self, author: str, private: AbstractSet[str]) -> bool:
        """The author is private and the subscriber may not read them (services/privacy.py)."""
        return author != self.user_id and author in private and author not in self.opened

    def unfollowed(self, followee: str) -> Audience:
        """The subscriber's follow of `followee` ended (they unfollowed, or the followee denied it)."""
        ended = {followee}
        return replace(self, followees=self.followees - ended, opened=self.opened - ended)


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: its type (`feed` or `notification`) and its JSON data."""

    kind: str
    data: dict[str, Any]


Decision = tuple[Audience, Message | None]


@singledispatch
def step(
    event: Event, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    """The subscriber's next audience and the message `event` makes for them (events nobody is told of: none)."""
    return audience, None


def _notification(kind: str, event: Event, **more: Any) -> Message:
    return Message("notification", {"kind": kind, "actor_id": event.actor_id, "at": event.occurred_at, **more})


@step.register
def _(
    event: ArticlePublished, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    author = event.actor_id
    if author == audience.user_id or audience.hides(author) or audience.closed(author, private):
        return audience, None
    if author not in audience.followees and (event.tribe_id is None or event.tribe_id not in audience.tribes):
        return audience, None
    data = {
        "article_id": event.article_id,
        "author_id": author,
        "slug": event.slug,
        "title": event.title,
        "description": event.description,
        "tags": list(event.tags),
        "tribe_id": event.tribe_id,
        "at": event.occurred_at,
    }
    return audience, Message("feed", data)


@step.register
def _(
    event: ArticleBumped, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    me = audience.user_id
    if authors.get(event.article_id) != me or event.actor_id == me or audience.hides(event.actor_id):
        return audience, None
    return audience, _notification("bump", event, article_id=event.article_id)


@step.register
def _(
    event: CommentPosted, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    me = audience.user_id
    if event.actor_id == me or audience.hides(event.actor_id):
        return audience, None
    mentioned = me in event.mentions
    about = {"article_id": event.article_id, "comment_id": event.comment_id}
    if authors.get(event.article_id) == me:
        return audience, _notification("comment", event, **about, mentions_you=mentioned)
    if mentioned and not audience.closed(authors.get(event.article_id, ""), private):
        return audience, _notification("mention", event, **about)
    return audience, None


@step.register
def _(
    event: UserFollowed, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    me = audience.user_id
    if event.actor_id == me:
        return replace(audience, followees=audience.followees | {event.followee_id}), None
    if event.followee_id == me and not audience.hides(event.actor_id):
        return audience, _notification("follow", event)
    return audience, None


@step.register
def _(
    event: UserUnfollowed, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.actor_id == audience.user_id:
        return audience.unfollowed(event.followee_id), None
    return audience, None


@step.register
def _(
    event: FollowApproved, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.follower_id == audience.user_id and event.actor_id in audience.followees:
        return replace(audience, opened=audience.opened | {event.actor_id}), None
    return audience, None


@step.register
def _(
    event: FollowDenied, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.follower_id == audience.user_id:
        return audience.unfollowed(event.actor_id), None
    return audience, None


@step.register
def _(
    event: UserBlocked, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.actor_id == audience.user_id:
        return replace(audience, blocked=audience.blocked | {event.blocked_id}), None
    if event.blocked_id == audience.user_id:
        return replace(audience, blockers=audience.blockers | {event.actor_id}), None
    return audience, None


@step.register
def _(
    event: UserUnblocked, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.actor_id == audience.user_id:
        return replace(audience, blocked=audience.blocked - {event.blocked_id}), None
    if event.blocked_id == audience.user_id:
        return replace(audience, blockers=audience.blockers - {event.actor_id}), None
    return audience, None


@step.register(TribeCreated)
@step.register(TribeJoined)
def _(
    event: TribeCreated | TribeJoined,
    audience: Audience,
    authors: Mapping[str, str],
    private: AbstractSet[str] = frozenset(),
) -> Decision:
    """A tribe's creator joins it (reducers/tribes.py)."""
    if event.actor_id == audience.user_id:
        return replace(audience, tribes=audience.tribes | {event.tribe_id}), None
    return audience, None


@step.register
def _(
    event: TribeLeft, audience: Audience, authors: Mapping[str, str], private: AbstractSet[str] = frozenset()
) -> Decision:
    if event.actor_id == audience.user_id:
        return replace(audience, tribes=audience.tribes - {event.tribe_id}), None
    return audience, None


DECIDED: frozenset[str] = frozenset(c.__name__ for c in step.registry if issubclass(c, Event) and c is not Event)
"""The event types `step` looks at: the stream decodes no other (views, the bulk of the log, among them)."""
