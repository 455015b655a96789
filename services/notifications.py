"""A user's notifications, grouped, and how far they have read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import NotificationsRead
from events.log import Position
from services.errors import Forbidden, Invalid
from services.outcome import Outcome, settle
from services.ports import Ports
from services.privacy import readable
from services.social import user_named
from services.writer import envelope, now_ms

Body = dict[str, Any]
NEWEST_GROUPS = 200
"""How many of the newest groups a reader's list is drawn from."""


@dataclass(frozen=True, slots=True)
class NotificationView:
    group: Body
    actor_count: int
    latest_actor: Body
    article_title: str | None
    unread: bool


@dataclass(frozen=True, slots=True)
class Inbox:
    notifications: list[NotificationView]
    unread_count: int


async def inbox(ports: Ports, reader: str, username: str, limit: int, after: Sequence[Position] = ()) -> Inbox:
    """The reader's own notifications, newest first.

    Without self-caused ones, actors the reader blocked, deleted articles and deleted comments,
    and articles of a private author the reader may not read (a mention in a comment on one).
    A group names its few latest actors and counts them all (reducers/notifications.py): an actor
    the reader blocked is left out of the names and of the count when they are among those
    latest few, and a group none of whose latest few the reader may see is not shown. Beyond
    them a group's actors are counted, never read, so "N others" may count someone the reader
    blocked long ago: the price of a bounded group.
    """
    await ports.writer.caught_up(after)
    target = await user_named(ports, username, "user")
    if target["user_id"] != reader:
        raise Forbidden("notifications", "belong to someone else")
    social = ports.social
    groups = await social.notifications(reader, NEWEST_GROUPS)
    hidden = set(await social.blocked_by(reader)) | {reader}
    read_up_to = await social.read_up_to(reader)
    articles = sorted({g["article_id"] for g in groups if g["article_id"]})
    titles = {c["article_id"]: c["title"] for c in await readable(ports, reader, await social.cards(articles, reader))}
    mentions = [(g["article_id"], g["comment_id"]) for g in groups if g["kind"] == "mention"]
    live_mentions = await social.live_comments(mentions) if mentions else set()
    visible: list[tuple[Body, int, str]] = []
    for group in groups:
        if group["article_id"] and group["article_id"] not in titles:
            continue
        if group["kind"] == "mention" and (group["article_id"], group["comment_id"]) not in live_mentions:
            continue
        named = [a for a in group["latest_actors"] if a not in hidden]
        if named:
            count = group["count"] - (len(group["latest_actors"]) - len(named))
            visible.append((group, count, named[0]))
    names = await ports.reads.users(sorted({latest for _, _, latest in visible[:limit]}))
    shown = [
        NotificationView(
            group,
            count,
            names[latest],
            titles.get(group["article_id"]) if group["article_id"] else None,
            unread=group["latest_at"] > read_up_to,
        )
        for group, count, latest in visible[:limit]
        if latest in names
    ]
    return Inbox(shown, unread_count=sum(1 for group, _, _ in visible if group["latest_at"] > read_up_to))


async def mark_read(ports: Ports, actor_id: str, up_to: int | None) -> Outcome[int]:
    """Mark every notification up to a time (ms since the epoch; default now) as read."""
    now = now_ms()
    up_to = now if up_to is None else up_to
    if not 0 <= up_to <= now:
        raise Invalid("up_to", "must be a time (ms since the epoch) not in the future")
    event = NotificationsRead(**envelope(actor_id), up_to=up_to)

    async def marked() -> int:
        return up_to

    return await settle(ports.writer, [event], marked)
