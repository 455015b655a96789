"""What read services return: read-model documents joined with what one reader needs to see them.

Each assembler reads its joins in one batched get per collection and page, never one per item.
A document whose author the users view does not hold (yet) is left out, as a reader could not
be shown who wrote it; so is an article of a private author the reader may not read
(services/privacy.py): the last check of every path that shows articles, which the paths that
page filter before they cut a page (so it is not short).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from services.ports import Ports
from services.privacy import open_authors

Body = dict[str, Any]


class Profile(NamedTuple):
    """A user as one viewer sees them.

    This and the other views of a page's items are named tuples, not frozen dataclasses: a feed
    page makes forty, and a frozen dataclass sets each field through object.__setattr__ (a twentieth
    of a feed request's time).
    """

    user: Body
    following: bool
    """The viewer follows the user, and the follow opens them (services/privacy.py)."""
    requested: bool = False
    """The viewer asked to follow this private user, who has not answered yet."""


class ArticleView(NamedTuple):
    article: Body
    author: Profile
    favorited: bool


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: list[ArticleView]
    total: int


class CommentView(NamedTuple):
    comment: Body
    author: Profile


class CardView(NamedTuple):
    card: Body
    author: Body
    tribe: Body | None
    bumped: bool


@dataclass(frozen=True, slots=True)
class TribeView:
    tribe: Body
    article_count: int
    joined: bool


async def article_views(
    ports: Ports,
    docs: Sequence[Body],
    viewer: str | None,
    *,
    followed: set[str] | None = None,
    authors: Mapping[str, Body] | None = None,
    bumped: set[str] | None = None,
) -> list[ArticleView]:
    """Conduit's articles; `followed`: whom the viewer follows, when the caller knows already; `authors`: the
    user documents of their authors, when the caller read them to keep only what the viewer may read
    (services/privacy.py `readable_with_authors`); `bumped`: which of them the viewer bumps, when the caller
    read that too. One Profile per author, shared by their articles: a page has fewer authors than articles."""
    page_authors = {d["author_id"] for d in docs}
    if authors is None:
        authors = await ports.reads.users(sorted(page_authors))
        opened = await open_authors(ports, viewer, authors)
        docs = [d for d in docs if d["author_id"] in opened]
    following = followed if followed is not None else await ports.reads.following(viewer, sorted(page_authors))
    if bumped is None:
        bumped = await ports.reads.bumped(viewer, [d["article_id"] for d in docs])
    profiles = {a: Profile(authors[a], a in following) for a in page_authors if a in authors}
    return [
        ArticleView(d, profiles[d["author_id"]], d["article_id"] in bumped) for d in docs if d["author_id"] in profiles
    ]


async def comment_views(ports: Ports, docs: Sequence[Body], viewer: str | None) -> list[CommentView]:
    author_ids = sorted({d["author_id"] for d in docs})
    authors = await ports.reads.users(author_ids)
    following = await ports.reads.following(viewer, author_ids)
    return [
        CommentView(d, Profile(authors[d["author_id"]], d["author_id"] in following))
        for d in docs
        if d["author_id"] in authors
    ]


async def card_views(ports: Ports, docs: Sequence[Body], viewer: str | None) -> list[CardView]:
    """Cards as /v1 shows them; authors, tribes and the viewer's bumps come in one batched get each per page."""
    users = await ports.reads.users(sorted({d["author_id"] for d in docs}))
    opened = await open_authors(ports, viewer, users)
    docs = [d for d in docs if d["author_id"] in opened]
    tribes = await ports.social.tribes(sorted({d["tribe_id"] for d in docs if d.get("tribe_id")}))
    bumped = await ports.reads.bumped(viewer, [d["article_id"] for d in docs])
    return [
        CardView(
            d,
            users[d["author_id"]],
            tribes.get(d.get("tribe_id") or ""),
            bumped=d["article_id"] in bumped,
        )
        for d in docs
        if d["author_id"] in users
    ]


async def tribe_views(ports: Ports, docs: Sequence[Body], viewer: str | None) -> list[TribeView]:
    tribe_ids = [d["tribe_id"] for d in docs]
    counts = await ports.social.tribe_article_counts(tribe_ids)
    joined = await ports.social.joined(viewer, tribe_ids)
    return [TribeView(d, counts[d["tribe_id"]], joined=d["tribe_id"] in joined) for d in docs]
