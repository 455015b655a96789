"""Comments on articles, with @mentions, as Conduit's /api writes and reads them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from events.catalogue import CommentDeleted, CommentPosted
from events.log import Position
from services import rules
from services.articles import by_slug
from services.errors import Forbidden, NotFound
from services.moderation import not_suspended
from services.outcome import Outcome, nothing, settle
from services.ports import Ports
from services.social import not_blocked_by
from services.views import CommentView, Profile, comment_views
from services.writer import envelope

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]{1,64})")
BODY_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Comment:
    actor_id: str
    slug: str
    body: str


async def mentioned_users(ports: Ports, text: str) -> list[str]:
    """Ids of the existing users a text @mentions, in order of first mention (read from the handles view)."""
    found: list[str] = []
    for name in dict.fromkeys(m.group(1).rstrip(".") for m in MENTION.finditer(text)):
        user_id = await ports.reads.holder("username", name)
        if user_id is not None and user_id not in found:
            found.append(user_id)
    return found


async def listing(ports: Ports, slug: str, viewer: str | None, after: Sequence[Position] = ()) -> list[CommentView]:
    await ports.writer.caught_up(after)
    article = await by_slug(ports, slug, viewer)
    return await comment_views(ports, await ports.reads.comments(article["article_id"], reader=viewer), viewer)


async def _comment_view(ports: Ports, article_id: str, comment_id: int, viewer: str) -> CommentView:
    comment = await ports.reads.comment(article_id, comment_id)
    shown = await comment_views(ports, [comment], viewer) if comment is not None else []
    if not shown:
        raise NotFound("article")
    return shown[0]


async def post(ports: Ports, cmd: Comment) -> Outcome[CommentView]:
    """Post a comment; neither the article's author nor anyone mentioned may have blocked the actor.

    Its id is unique by construction, not by chance: `writer.numeric_id` hands out each number
    once, whichever process asks (a block claimed from the log, counted out in this process;
    events/ids.py). So no two comments share an id, on one article or any two, and a poster is
    always answered with their own comment.
    """
    await not_suspended(ports, cmd.actor_id)
    body = rules.text(cmd.body, "body", max_length=BODY_MAX)
    article = await by_slug(ports, cmd.slug, cmd.actor_id)
    mentions = await mentioned_users(ports, body)
    await not_blocked_by(ports, cmd.actor_id, [article["author_id"]], "article")
    await not_blocked_by(ports, cmd.actor_id, mentions, "mention")
    article_id, comment_id = article["article_id"], await ports.writer.numeric_id()
    event = CommentPosted(
        **envelope(cmd.actor_id), article_id=article_id, comment_id=comment_id, body=body, mentions=tuple(mentions)
    )
    # Not projected in time, the answer is the comment as posted, by its author as the users view shows them.
    author = await ports.reads.user(cmd.actor_id)
    posted = {
        "comment_id": comment_id,
        "article_id": article_id,
        "author_id": cmd.actor_id,
        "body": body,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
    }
    return await settle(
        ports.writer,
        [event],
        lambda: _comment_view(ports, article_id, comment_id, cmd.actor_id),
        provisional=None if author is None else lambda: CommentView(posted, Profile(author, following=False)),
    )


async def delete(ports: Ports, actor_id: str, slug: str, comment_id: int) -> Outcome[None]:
    """Delete one's own comment. Reads the comments view for its author: authorship never changes,
    so a stale view can only not know the comment yet (404)."""
    article = await by_slug(ports, slug, actor_id)
    comment = await ports.reads.comment(article["article_id"], comment_id)
    if comment is None:
        raise NotFound("comment")
    if comment["author_id"] != actor_id:
        raise Forbidden("comment")

    event = CommentDeleted(**envelope(actor_id), article_id=article["article_id"], comment_id=comment_id)
    return await settle(ports.writer, [event], nothing)
