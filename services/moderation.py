"""Reports and moderation: users report, moderators read the queue and decide, suspended users cannot write.

Who moderates: the users TRIBE_MODERATORS names (by user id or username), and those the operator
granted the role with `tribe moderators grant` (a ModeratorGranted event; the users view keeps
it). Admins are not moderators unless named so: reading reports is another trust than running
the views. Anyone else asking for a moderator's use case is Forbidden.

A report (ContentReported, UserReported) names an article, a comment or a user and a reason from
REASONS; the moderation view (reducers/moderation.py) counts a reporter once per target. A
decision (ModerationDecided, UserModerated) is an event the reducers apply wherever the content
shows: a hidden article or comment, and everything a suspended user wrote, is left out of every
read but its author's (projections/queries.py `visible`).

Reads consulted before appending, each of which may lag the log by a moment: the target (it
must exist and show to the reporter), the users view for the moderator role, and the moderation
view for the actor's suspension (a suspension made a moment ago is enforced once projected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import (
    OPERATOR_ACTOR,
    ContentReported,
    Event,
    ModerationDecided,
    ModeratorGranted,
    ModeratorRevoked,
    UserModerated,
    UserReported,
)
from events.codec import EventCodec
from events.log import Log, Position
from projections.queries import ReadModels, visible
from projections.store import MAX_WINDOW
from reducers.moderation import target_key
from services import rules
from services.errors import BadQuery, Forbidden, Invalid, NotFound
from services.outcome import Outcome, settle
from services.ports import Ports
from services.social import user_named
from services.writer import envelope, records_of

Body = dict[str, Any]

REASONS = ("spam", "abuse", "harassment", "illegal", "other")
"""The reasons a report may give; `note` says more, in the reporter's words."""
NOTE_MAX = 500
DECISION_REASON_MAX = 500
TARGET_KINDS = ("article", "comment", "user")
ACTIONS = {"article": ("hide", "restore"), "comment": ("hide", "restore"), "user": ("suspend", "unsuspend")}
STATES = ("open", "hidden", "restored", "suspended")
QUEUE_DEEPEST_OFFSET = MAX_WINDOW - 100
"""The queue's deepest offset: with a page of up to 100, within the deepest page either store serves."""


@dataclass(frozen=True, slots=True)
class Moderators:
    """The moderators the configuration names (TRIBE_MODERATORS): user ids or usernames."""

    names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Target:
    """What a report or decision names: an article by id, a comment by article id and number, a user by name."""

    kind: str
    article_id: str | None = None
    comment_id: int | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    kind: str
    target_id: str
    article_id: str | None
    author_id: str  # who wrote it (for a user: the user)


@dataclass(frozen=True, slots=True)
class Report:
    actor_id: str
    target: Target
    reason: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Reported:
    target_kind: str
    target_id: str
    article_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Decide:
    actor_id: str
    target: Target
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueueView:
    """A queue document, with what the moderator needs to judge it: the user's name, the article's title,
    the comment's text (empty when the view no longer holds it)."""

    item: Body
    shown: str


async def not_suspended(ports: Ports, actor_id: str) -> None:
    """Forbidden if a moderator has suspended the actor (the moderation view, which may lag a moment)."""
    item = await ports.reads.queue_item(f"user:{actor_id}")
    if item is not None and item["state"] == "suspended":
        raise Forbidden("user", "is suspended by a moderator")


async def is_moderator(ports: Ports, moderators: Moderators, user_id: str) -> bool:
    if user_id in moderators.names:
        return True
    user = await ports.reads.user(user_id)
    if user is None:
        return False
    names = {name.casefold() for name in moderators.names}
    return bool(user.get("moderator", False)) or str(user["username"]).casefold() in names


async def require_moderator(ports: Ports, moderators: Moderators, user_id: str) -> None:
    if not await is_moderator(ports, moderators, user_id):
        raise Forbidden("user", "is not a moderator")


async def _resolve(ports: Ports, target: Target, reader: str, *, as_moderator: bool) -> Resolved:
    """The target as the views hold it; NotFound for one that does not exist or, to a reporter, does not show."""
    if target.kind not in TARGET_KINDS:
        raise Invalid("target_kind", "must be one of " + ", ".join(TARGET_KINDS))
    if target.kind == "user":
        if not target.username:
            raise Invalid("username", "names the user reported")
        user = await user_named(ports, target.username, "username")
        return Resolved("user", user["user_id"], None, user["user_id"])
    if not target.article_id:
        raise Invalid("article_id", "names the article (of the comment) reported")
    suspended = frozenset() if as_moderator else await ports.reads.suspended()
    article = await ports.reads.article(target.article_id)
    if article is None or not (as_moderator or visible(article, reader, suspended)):
        raise NotFound("article_id")
    if target.kind == "article":
        return Resolved("article", target.article_id, target.article_id, article["author_id"])
    if target.comment_id is None:
        raise Invalid("comment_id", "names the comment reported")
    comment = await ports.reads.comment(target.article_id, target.comment_id)
    if comment is None or not (as_moderator or visible(comment, reader, suspended)):
        raise NotFound("comment_id")
    return Resolved("comment", str(target.comment_id), target.article_id, comment["author_id"])


def _about(
    target: Resolved,
    actor_id: str,
    on_user: type[UserReported | UserModerated],
    on_content: type[ContentReported | ModerationDecided],
    **payload: str,
) -> Event:
    """The actor's event about a target: a user's type of its own (routed by the user), else the content's type,
    which names the article the target is or belongs to (routed by the article)."""
    if target.kind == "user":
        return on_user(**envelope(actor_id), target_id=target.target_id, **payload)
    assert target.article_id is not None
    return on_content(
        **envelope(actor_id),
        target_kind=target.kind,
        target_id=target.target_id,
        article_id=target.article_id,
        **payload,
    )


async def report(ports: Ports, cmd: Report) -> Outcome[Reported]:
    """Report a target: always appended (the moderation view counts a reporter once per target)."""
    await not_suspended(ports, cmd.actor_id)
    if cmd.reason not in REASONS:
        raise Invalid("reason", "must be one of " + ", ".join(REASONS))
    note = rules.text(cmd.note, "note", max_length=NOTE_MAX, blank=True)
    target = await _resolve(ports, cmd.target, cmd.actor_id, as_moderator=False)
    if target.author_id == cmd.actor_id:
        raise Forbidden("target", "is yours: you cannot report yourself or what you wrote")
    event = _about(target, cmd.actor_id, UserReported, ContentReported, reason=cmd.reason, note=note)
    reported = Reported(target.kind, target.target_id, target.article_id, cmd.reason)

    async def read() -> Reported:
        return reported

    return await settle(ports.writer, [event], read, provisional=lambda: reported)


async def _shown(ports: Ports, items: list[Body]) -> list[QueueView]:
    users = await ports.reads.users(sorted({i["target_id"] for i in items if i["target_kind"] == "user"}))
    shown = []
    for item in items:
        text = ""
        if item["target_kind"] == "user":
            text = str(users.get(item["target_id"], {}).get("username", ""))
        elif item["target_kind"] == "article":
            article = await ports.reads.article(item["target_id"])
            text = "" if article is None else str(article["title"])
        else:
            comment = await ports.reads.comment(item["article_id"], int(item["target_id"]))
            text = "" if comment is None else str(comment["body"])
        shown.append(QueueView(item, text))
    return shown


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueView]
    total: int


async def queue(
    ports: Ports,
    moderators: Moderators,
    user_id: str,
    state: str | None,
    limit: int,
    offset: int,
    after: Sequence[Position] = (),
) -> QueuePage:
    """The moderation queue for a moderator: open targets first, most reported first; `state` filters."""
    await require_moderator(ports, moderators, user_id)
    if state is not None and state not in STATES:
        raise BadQuery("state", "must be one of " + ", ".join(STATES))
    if not 1 <= limit <= 100:
        raise BadQuery("limit", "must be 1-100")
    if not 0 <= offset <= QUEUE_DEEPEST_OFFSET:
        raise BadQuery("offset", f"must be 0-{QUEUE_DEEPEST_OFFSET}")
    await ports.writer.caught_up(after)
    items, total = await ports.reads.queue(state, limit, offset)
    return QueuePage(await _shown(ports, items), total)


async def decide(ports: Ports, moderators: Moderators, cmd: Decide) -> Outcome[QueueView]:
    """A moderator hides or restores an article or a comment, or suspends or unsuspends a user."""
    await require_moderator(ports, moderators, cmd.actor_id)
    target = await _resolve(ports, cmd.target, cmd.actor_id, as_moderator=True)
    if cmd.action not in ACTIONS[target.kind]:
        raise Invalid("action", f"on a {target.kind} must be one of " + ", ".join(ACTIONS[target.kind]))
    reason = rules.text(cmd.reason, "reason", max_length=DECISION_REASON_MAX)
    if target.kind == "user" and target.target_id == cmd.actor_id:
        raise Forbidden("target", "is you: another moderator decides on you")
    event = _about(
        target, cmd.actor_id, UserModerated, ModerationDecided, action=cmd.action, reason=reason, source="moderator"
    )
    key = target_key(target.kind, target.target_id, target.article_id)
    assert key is not None

    async def read() -> QueueView:
        item = await ports.reads.queue_item(key)
        if item is None:
            raise NotFound("target")
        (shown,) = await _shown(ports, [{**item, "id": key}])
        return shown

    return await settle(ports.writer, [event], read)


async def set_moderator(log: Log, reads: ReadModels, codec: EventCodec, username: str, *, granted: bool) -> str:
    """The operator grants (or revokes) a registered user the moderator role: `tribe moderators grant|revoke`.

    Appends ModeratorGranted or ModeratorRevoked by OPERATOR_ACTOR; the users view keeps the role.
    Returns the user's id. Reads the users view for the name: a user registered a moment ago may
    not be found yet (NotFound; run it again).
    """
    user = await reads.user_by("username", username)
    if user is None:
        raise NotFound("username")
    user_id = str(user["user_id"])
    cls = ModeratorGranted if granted else ModeratorRevoked
    await log.append(records_of([cls(**envelope(OPERATOR_ACTOR), user_id=user_id)], codec))
    return user_id
