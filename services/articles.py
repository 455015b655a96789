"""Articles: publish, edit, delete, bump (favorite) and read them, for Conduit's /api and the native /v1 alike."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from events.catalogue import ArticleBumped, ArticleDeleted, ArticleEdited, ArticlePublished, ArticleUnbumped
from events.ids import new_event_id
from events.log import Position
from projections.queries import visible
from projections.store import MAX_WINDOW
from reducers.articles import ARTICLES, ArticlesReducer
from services import rules
from services.errors import BadQuery, Forbidden, Invalid, NotFound
from services.moderation import not_suspended
from services.outcome import Outcome, nothing, settle
from services.ports import Ports
from services.privacy import readable, readable_with_authors
from services.views import ArticlePage, ArticleView, CardView, Profile, article_views, card_views
from services.writer import envelope

Body = dict[str, Any]
Cursor = tuple[Any, ...]

TITLE_MAX = 300
DESCRIPTION_MAX = 1_000
BODY_MAX = 100_000


def slugify(title: str, article_id: str) -> str:
    """A readable slug made unique by the article id's random tail."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].strip("-")
    suffix = article_id[-8:].lower()
    return f"{words}-{suffix}" if words else suffix


def tag_list(value: Sequence[Any], name: str) -> tuple[str, ...]:
    """Distinct, trimmed tags, without blank ones; at most 20 of at most 64 characters, as sent.

    The limits apply to what was sent, as /v1/openapi.json states them (maxItems, maxLength): a
    list of 21 entries is refused even when trimming and dropping blanks and repeats would leave 20.
    """
    if not all(isinstance(t, str) for t in value):
        raise Invalid(name, "must be a list of strings")
    if len(value) > 20 or any(len(t) > 64 for t in value):
        raise Invalid(name, "allows at most 20 tags of at most 64 characters")
    return tuple(dict.fromkeys(tag for tag in map(rules.stripped, value) if tag))


@dataclass(frozen=True, slots=True)
class Publish:
    actor_id: str
    title: str
    description: str
    body: str
    tags: Sequence[Any] = ()
    tags_field: str = "tagList"
    """The name the client gave the tags (Conduit's tagList, /v1's tags), for error messages."""
    tribe_id: str | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """New values for the fields given; None leaves a field as it is. A new title moves the slug."""

    actor_id: str
    slug: str
    title: str | None = None
    description: str | None = None
    body: str | None = None
    tags: Sequence[Any] | None = None
    """When given, the article's tags become these."""


@dataclass(frozen=True, slots=True)
class Listing:
    """Conduit's article list: every filter given must match."""

    viewer: str | None
    author: str | None = None
    tag: str | None = None
    favorited: str | None = None
    limit: int = 20
    offset: int = 0


def paging(limit: int, offset: int) -> None:
    """Refuses a page no store serves, naming the parameter to change: the limit when it is out of
    range, else the offset (which, added to a good limit, reaches beyond the deepest window)."""
    if not 1 <= limit <= 100:
        raise BadQuery("limit", "must be 1-100")
    if not 0 <= offset <= MAX_WINDOW - limit:
        raise BadQuery("offset", f"must be 0 or more, and offset + limit at most {MAX_WINDOW}")


async def by_slug(ports: Ports, slug: str, reader: str | None) -> Body:
    """The live article the slug names, if `reader` may read it (services/privacy.py) and moderation shows it to
    them (projections/queries.py `visible`): else NotFound, as if there were none."""
    return (await _by_slug_with_author(ports, slug, reader))[0]


async def _by_slug_with_author(ports: Ports, slug: str, reader: str | None) -> tuple[Body, dict[str, Body]]:
    """`by_slug`, and its author's user document (read to tell whether `reader` may read them)."""
    doc = await ports.reads.article_by_slug(slug)
    if doc is None or not await _visible(ports, doc, reader):
        raise NotFound("article")
    shown, authors = await readable_with_authors(ports, reader, [doc])
    if not shown:
        raise NotFound("article")
    return doc, authors


async def _visible(ports: Ports, doc: Body, reader: str | None) -> bool:
    return visible(doc, reader, await ports.reads.suspended())


async def view(ports: Ports, article_id: str, viewer: str | None) -> ArticleView:
    doc = await ports.reads.article(article_id)
    shown = await article_views(ports, [doc], viewer) if doc is not None and await _visible(ports, doc, viewer) else []
    if not shown:
        raise NotFound("article")
    return shown[0]


async def card(ports: Ports, article_id: str, viewer: str | None, after: Sequence[Position] = ()) -> CardView:
    await ports.writer.caught_up(after)
    shown = await card_views(ports, await ports.social.cards([article_id], viewer), viewer)
    if not shown:
        raise NotFound("article")
    return shown[0]


async def get(ports: Ports, slug: str, viewer: str | None, after: Sequence[Position] = ()) -> ArticleView:
    await ports.writer.caught_up(after)
    doc, authors = await _by_slug_with_author(ports, slug, viewer)
    return (await article_views(ports, [doc], viewer, authors=authors))[0]


Fetch = Callable[[int, int], Awaitable[tuple[list[Body], int]]]
"""(limit, offset) -> a page of a list and the list's total."""


async def _readable_page(
    ports: Ports, reader: str | None, fetch: Fetch, limit: int, offset: int
) -> tuple[list[Body], int]:
    """The page [offset, offset + limit) of what `reader` may read of a list, and the list's total without what
    was left out of the part read (services/privacy.py).

    Reads the list from its start, offset + limit + 1 at a time, until the page and one more are
    readable or the list (or the deepest window a store serves) ends: a page is never cut short by
    a private author's articles, nor shifted by those before it. A page deep in a list costs what
    it skips, as a deep page does in any store. The total is exact when the list ended within what
    was read; otherwise it counts the rest as readable, so a client offers the next page.
    """
    step = offset + limit + 1
    shown: list[Body] = []
    read = left_out = total = 0
    while len(shown) < step and read < MAX_WINDOW:
        size = min(step, MAX_WINDOW - read)
        docs, total = await fetch(size, read)
        kept = await readable(ports, reader, docs)
        shown += kept
        read += len(docs)
        left_out += len(docs) - len(kept)
        if len(docs) < size:
            break
    return shown[offset : offset + limit], total - left_out


async def listing(ports: Ports, query: Listing, after: Sequence[Position] = ()) -> ArticlePage:
    """Conduit's list; without a private author's articles the viewer may not read (`_readable_page`)."""
    paging(query.limit, query.offset)
    await ports.writer.caught_up(after)
    reads = ports.reads
    author_ids = None
    if query.author is not None:
        author_ids = [uid] if (uid := await reads.holder("username", query.author)) else []
    fetch: Fetch | None = None
    if query.favorited is None:

        async def fetch_all(limit: int, offset: int) -> tuple[list[Body], int]:
            return await reads.articles(
                author_ids=author_ids, tag=query.tag, limit=limit, offset=offset, reader=query.viewer
            )

        fetch = fetch_all
    elif (fan := await reads.holder("username", query.favorited)) is not None:
        fan_id = fan

        async def fetch_favorites(limit: int, offset: int) -> tuple[list[Body], int]:
            return await reads.favorites(
                fan_id, author_ids=author_ids, tag=query.tag, limit=limit, offset=offset, reader=query.viewer
            )

        fetch = fetch_favorites
    if fetch is None:
        return ArticlePage([], 0)
    docs, total = await _readable_page(ports, query.viewer, fetch, query.limit, query.offset)
    return ArticlePage(await article_views(ports, docs, query.viewer), total)


async def tags(ports: Ports, after: Sequence[Position] = ()) -> list[str]:
    """The tags of the live articles, the most used first: a list up to a few seconds old (ReadModels.tags),
    computed now for a reader who sends the positions of a write."""
    await ports.writer.caught_up(after)
    return await ports.reads.tags(fresh=bool(after))


def _published(cmd: Publish) -> ArticlePublished:
    article_id = new_event_id()
    title = rules.text(cmd.title, "title", max_length=TITLE_MAX)
    return ArticlePublished(
        **envelope(cmd.actor_id),
        article_id=article_id,
        slug=slugify(title, article_id),
        title=title,
        description=rules.text(cmd.description, "description", max_length=DESCRIPTION_MAX, blank=True),
        body=rules.text(cmd.body, "body", max_length=BODY_MAX),
        tags=tag_list(cmd.tags, cmd.tags_field),
        tribe_id=cmd.tribe_id,
    )


def _as_applied(event: ArticlePublished | ArticleEdited, card: Body | None = None) -> Body:
    """The card an answer shows before the articles view holds the event: what the view's reducer makes of the
    card it holds (`card`, None for a publication) and the event; the card as it was, should the reducer leave it."""
    key = (ARTICLES, event.article_id)
    return dict(ArticlesReducer().apply(event, {key: card}).get(key, card or {}))


async def _author(ports: Ports, actor_id: str) -> Profile:
    """The actor as the author of what they write now (the token named a user the users view holds)."""
    user = await ports.reads.user(actor_id)
    if user is None:
        raise NotFound("author")
    return Profile(user, following=False)


async def publish(ports: Ports, cmd: Publish) -> Outcome[ArticleView]:
    """A Conduit article; `tribe_id` is not Conduit's (see `publish_card`).

    Not projected in time, the answer is the article as published, with no bumps yet.
    """
    await not_suspended(ports, cmd.actor_id)
    event = _published(cmd)
    author = await _author(ports, cmd.actor_id)
    return await settle(
        ports.writer,
        [event],
        lambda: view(ports, event.article_id, cmd.actor_id),
        provisional=lambda: ArticleView(_as_applied(event), author, favorited=False),
    )


async def publish_card(ports: Ports, cmd: Publish) -> Outcome[CardView]:
    """A /v1 article, possibly in a tribe the author has joined.

    Reads the tribes view for the tribe and the author's membership. When it is behind (the
    author joined a moment ago), the author is told they have not joined and can retry with
    their join's position.
    """
    await not_suspended(ports, cmd.actor_id)
    if cmd.tribe_id is not None:
        if await ports.social.tribe(cmd.tribe_id) is None:
            raise NotFound("tribe_id")
        if not await ports.social.joined(cmd.actor_id, [cmd.tribe_id]):
            raise Forbidden("tribe_id", "is a tribe you have not joined")
    event = _published(cmd)
    return await settle(ports.writer, [event], lambda: card(ports, event.article_id, cmd.actor_id))


async def own_article(ports: Ports, actor_id: str, slug: str) -> Body:
    """The article the slug names, if the actor wrote it.

    Reads the articles view for the author. Authorship never changes, so a stale view can only
    not know the article yet (404, and the author retries with the publish's position).
    """
    doc = await by_slug(ports, slug, actor_id)
    if doc["author_id"] != actor_id:
        raise Forbidden("article")
    return doc


async def edit(ports: Ports, cmd: Edit) -> Outcome[ArticleView]:
    """Not projected in time, the answer is the article as read before, with the edit applied."""
    await not_suspended(ports, cmd.actor_id)
    doc = await own_article(ports, cmd.actor_id, cmd.slug)
    before = await view(ports, doc["article_id"], cmd.actor_id)
    article_id = doc["article_id"]
    title = rules.text(cmd.title, "title", max_length=TITLE_MAX) if cmd.title is not None else None
    event = ArticleEdited(
        **envelope(cmd.actor_id),
        article_id=article_id,
        slug=slugify(title, article_id) if title is not None else None,
        title=title,
        description=(
            rules.text(cmd.description, "description", max_length=DESCRIPTION_MAX, blank=True)
            if cmd.description is not None
            else None
        ),
        body=rules.text(cmd.body, "body", max_length=BODY_MAX) if cmd.body is not None else None,
        tags=tag_list(cmd.tags, "tagList") if cmd.tags is not None else None,
    )
    return await settle(
        ports.writer,
        [event],
        lambda: view(ports, article_id, cmd.actor_id),
        provisional=lambda: before._replace(article=_as_applied(event, before.article)),
    )


async def delete(ports: Ports, actor_id: str, slug: str) -> Outcome[None]:
    doc = await own_article(ports, actor_id, slug)

    return await settle(ports.writer, [ArticleDeleted(**envelope(actor_id), article_id=doc["article_id"])], nothing)


async def favorite(ports: Ports, actor_id: str, slug: str, *, on: bool) -> Outcome[ArticleView]:
    """Bump (on) or unbump the article: always appended, whatever the articles view shows.

    The view may not show the actor's last bump or unbump yet; the articles reducer keeps a
    bump document per (article, user), so a repeat changes nothing and the answer is the state
    after this event.
    """
    article_id = (await by_slug(ports, slug, actor_id))["article_id"]
    before = await view(ports, article_id, actor_id)
    cls = ArticleBumped if on else ArticleUnbumped
    event = cls(**envelope(actor_id), article_id=article_id)

    def provisional() -> ArticleView:
        """Not projected in time: the article as read before, with this reader's bump set as asked.

        The count moves by one when the views showed the other state; when they were behind
        already, it may be off by that much until the client reads again.
        """
        delta = (1 if on else -1) if before.favorited != on else 0
        counted = {**before.article, "favorites_count": before.article["favorites_count"] + delta}
        return before._replace(article=counted, favorited=on)

    return await settle(ports.writer, [event], lambda: view(ports, article_id, actor_id), provisional=provisional)
