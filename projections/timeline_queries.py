"""The queries of the hybrid feed: the fan-out's audiences, the readers' timelines, the pulled outliers.

Each is one query or one batched get whatever the reader follows: a timeline is a range of
document ids (`<reader>:<article id>`, and article ids are ULIDs, so the range is newest first
by publication), the outliers a reader follows are one batched get of follow documents among
the few outliers there are (ReadModels.following, SocialReads.joined), and their articles one query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.queries import (
    active_among,
    block_ids,
    by_followee,
    hidden_by_blocks,
    live_cards,
    suspended_users,
    unerased,
)
from projections.store import Doc, Filter, Prefix, Query, Store
from reducers.articles import bump_id
from reducers.follows import follow_id
from reducers.timelines import outlier_id

Body = dict[str, Any]
_ACTIVE = Filter("active", (True,))
_LIVE = Filter("deleted", (False,))
_AUDIENCES = {"author": ("follows", "followee_id", "follower_id"), "tribe": ("memberships", "tribe_id", "user_id")}
"""kind -> (collection, the field naming the source, the field naming a member of its audience)."""


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """What a feed reads of the articles it was delivered or pulled (TimelineReads.window)."""

    cards: list[Body]
    """The live cards the reader may see, of the authors they follow now and no block parts them from, newest first."""
    authors: dict[str, Body]
    """The user documents of the articles' authors (erased users left out)."""
    follows: dict[str, Body]
    """The reader's follow documents of those authors, active or not, by followee."""
    bumped: set[str]
    """The articles the reader bumps now."""

    @property
    def followed(self) -> set[str]:
        """The authors the reader follows now."""
        return {followee for followee, follow in self.follows.items() if follow["active"]}

    def merged(self, other: FeedWindow) -> FeedWindow:
        """This window and another of other articles, as one: the cards of both newest first."""
        return FeedWindow(
            cards=sorted([*self.cards, *other.cards], key=lambda card: card["article_id"], reverse=True),
            authors={**self.authors, **other.authors},
            follows={**self.follows, **other.follows},
            bumped=self.bumped | other.bumped,
        )


@dataclass(frozen=True, slots=True)
class PulledAuthors:
    """The authors a feed reads by pull (TimelineReads.pulled_authors)."""

    outliers: list[str]
    """The outlier authors the reader follows: every article of theirs is read by pull."""
    recent: list[str]
    """The other authors the reader followed lately, whose backfill may not be filed yet."""


class TimelineReads:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- what the fan-out reads ----------------------------------------------------------------

    async def audience_size(self, kind: str, source_id: str) -> int:
        """How many follow this author or belong to this tribe now: one count."""
        collection, source, _ = _AUDIENCES[kind]
        page = await self.store.search(collection, Query(filters=(Filter(source, (source_id,)), _ACTIVE), size=0))
        return page.total or 0

    async def audience(self, kind: str, source_id: str, page: int) -> AsyncIterator[list[str]]:
        """The followers of an author or the members of a tribe, `page` at a time."""
        collection, source, member = _AUDIENCES[kind]
        query = Query(
            filters=(Filter(source, (source_id,)), _ACTIVE), sort=(("id", "asc"),), size=page, with_total=False
        )
        chunk: list[str] = []
        async for doc in self.store.every(collection, query):
            chunk.append(doc.body[member])
            if len(chunk) == page:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def is_outlier(self, kind: str, source_id: str) -> bool:
        key = outlier_id(kind, source_id)
        return key in await self.store.get("outliers", [key])

    async def latest_articles(self, kind: str, source_id: str, size: int) -> list[Body]:
        """The newest live articles of an author or a tribe: what a new follower or member is delivered."""
        return await self._newest([("author_id" if kind == "author" else "tribe_id", source_id)], size)

    # -- what a feed reads ---------------------------------------------------------------------

    async def timeline(self, reader: str, size: int, *, by_author: bool) -> list[Body]:
        """The reader's `size` newest entries (only those delivered for a followed author, with `by_author`).

        Not counted: a count would read every entry the reader was ever delivered.
        """
        filters = (Filter("by_author", (True,)),) if by_author else ()
        page = await self.store.search(
            "timeline",
            Query(
                filters=filters,
                prefix=Prefix("id", f"{reader}:"),
                sort=(("id", "desc"),),
                size=size,
                with_total=False,
                settled=True,
            ),
        )
        return [d.body for d in page.docs]

    async def outliers(self, kind: str) -> list[str]:
        """Every author or tribe read by pull: few, by construction (their audiences passed the threshold).

        Every feed asks: the answer is kept until the store is written to (Store.unless_written).
        """
        query = Query(prefix=Prefix("id", outlier_id(kind, "")), sort=(("id", "asc"),), size=100, with_total=False)

        async def search() -> tuple[str, ...]:
            return tuple([doc.body["source_id"] async for doc in self.store.every("outliers", query)])

        return list(await self.store.unless_written(f"outliers:{kind}", search))

    async def window(self, reader: str, authors: Mapping[str, str]) -> FeedWindow:
        """What a feed shows of these articles (article id to author), from one batched get (Store.get_many).

        The cards, their authors, the reader's follows and bumps of them, and the blocks either way
        between the reader and the authors are all keyed by ids the entries give, so they are read
        at once: on Elasticsearch one request, not five in turn. A card is read for every entry,
        the feed keeping those of authors the reader still follows and no block parts them from.
        """
        return await self._window(reader, authors, await self.store.get_many(self._window_ids(reader, authors)))

    async def window_and_pulled_authors(
        self, reader: str, authors: Mapping[str, str], since: int
    ) -> tuple[FeedWindow, PulledAuthors]:
        """`window` and `pulled_authors` from one batched get: a feed's first read needs both, and its
        reader's follows of the outliers and recent follows are keyed by ids known before it reads."""
        outliers = await self.outliers("author")
        found = await self.store.get_many({**self._window_ids(reader, authors, outliers), "recent_follows": [reader]})
        return await self._window(reader, authors, found), _pulled_authors(reader, outliers, found, since)

    async def pulled_authors(self, reader: str, since: int) -> PulledAuthors:
        """The outlier authors the reader follows, and those they started following since `since` (ms), whose
        deliveries may not be filed yet: the reader's follows of the outliers and their recent follows in one get."""
        outliers = await self.outliers("author")
        found = await self.store.get_many(
            {"follows": [follow_id(reader, a) for a in outliers], "recent_follows": [reader]}
        )
        return _pulled_authors(reader, outliers, found, since)

    @staticmethod
    def _window_ids(reader: str, authors: Mapping[str, str], followees: Sequence[str] = ()) -> dict[str, list[str]]:
        """The ids a window of these articles reads; also the reader's follows of `followees`."""
        article_ids = sorted(authors, reverse=True)
        author_ids = sorted(set(authors.values()))
        return {
            "follows": [follow_id(reader, a) for a in sorted({*author_ids, *followees})],
            "articles": article_ids,
            "users": author_ids,
            "bumps": [bump_id(a, reader) for a in article_ids],
            "blocks": block_ids(reader, author_ids),
        }

    async def _window(
        self, reader: str, authors: Mapping[str, str], found: Mapping[str, Mapping[str, Doc]]
    ) -> FeedWindow:
        author_ids = set(authors.values())
        follows = {f: body for f, body in by_followee(found["follows"]).items() if f in author_ids}
        shown_authors = active_among(found["follows"], "followee_id") & author_ids
        shown_authors -= hidden_by_blocks(found["blocks"], reader)
        shown = [a for a in sorted(authors, reverse=True) if authors[a] in shown_authors]
        return FeedWindow(
            cards=live_cards(found["articles"], shown, reader, await suspended_users(self.store)) if shown else [],
            authors=unerased(found["users"]),
            follows=follows,
            bumped=active_among(found["bumps"], "article_id"),
        )

    async def pulled(self, authors: PulledAuthors, tribes: Sequence[str], size: int, backfill: int) -> list[Body]:
        """The `size` newest live articles the reader pulls: of the outlier authors they follow or in these tribes,
        and the `backfill` newest of the authors they followed lately, together.

        Each of the latter is among its own author's `backfill` newest, which the follow's backfill
        delivers: a feed that showed more of an author in the minutes after the follow than the backfill
        filed would lose some as it aged. A query per source, each a range of the
        articles view's (author or tribe, created_at) index that stops at the page: one query over all
        sources would sort every article of theirs, and an outlier may have written thousands.
        """
        found = await self._newest([*(("author_id", a) for a in authors.outliers), *(("tribe_id", t) for t in tribes)],
                                   size)
        if authors.recent:
            found += await self._newest([("author_id", a) for a in authors.recent], min(backfill, size))
        unique = {a["article_id"]: a for a in found}.values()
        return sorted(unique, key=lambda a: (a["created_at"], a["article_id"]), reverse=True)[:size]

    async def _newest(self, sources: Sequence[tuple[str, str]], size: int) -> list[Body]:
        """The `size` newest live articles of these sources (field, value) together."""
        found: list[Body] = []
        for field, value in sources:
            page = await self.store.search(
                "articles",
                Query(filters=(Filter(field, (value,)), _LIVE), sort=(("created_at", "desc"),), size=size,
                      with_total=False),
            )
            found += [d.body for d in page.docs]
        return sorted(found, key=lambda a: (a["created_at"], a["article_id"]), reverse=True)[:size]


def _pulled_authors(
    reader: str, outliers: Sequence[str], found: Mapping[str, Mapping[str, Doc]], since: int
) -> PulledAuthors:
    """The outliers among `outliers` whose follow by the reader `found` holds active, and the authors of the
    reader's recent follows since `since` who are not among them."""
    followed = active_among(found["follows"], "followee_id") & set(outliers)
    recent = found["recent_follows"].get(reader)
    lately = () if recent is None else zip(recent.body["followees"], recent.body["followed_at"])
    return PulledAuthors(sorted(followed), sorted({f for f, at in lately if at >= since} - followed))
