"""The queries the API asks of the read models, in the Store port's terms (so every adapter serves them).

Moderation (services/moderation.py) shows in every read of articles and comments: one hidden
by a moderator or the classifier, or written by a suspended user, is left out for every reader
but its author (`visible`, and the filters of `_shown_to`). The suspended users are read from
the moderation view on each such read: a handful of documents, through an index.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from events.routing import ARTICLES, FOLLOWS, partitions
from projections.kept import Kept
from projections.store import Doc, Filter, Prefix, Query, Store
from reducers.articles import bump_id, comment_doc_id
from reducers.follows import block_id, follow_id, follower_count_id
from reducers.trending import WINDOWS, bucket_id, bucket_start
from reducers.tribes import membership_id

Body = dict[str, Any]
_LIVE = Filter("deleted", (False,))
_NOT_HIDDEN = Filter("hidden", (True,), negate=True)
"""Not hidden by moderation; negated, so a document of an older view version, which has no `hidden`, passes."""
_NEWEST_FIRST: tuple[tuple[str, Literal["asc", "desc"]], ...] = (("created_at", "desc"),)
_SUSPENDED = Query(
    filters=(Filter("target_kind", ("user",)), Filter("state", ("suspended",))),
    sort=(("target_id", "asc"),),
    size=1000,
    with_total=False,
)


async def suspended_users(store: Store) -> frozenset[str]:
    """The users a moderator has suspended (the moderation view): every card and list asks."""

    async def search() -> frozenset[str]:
        return frozenset([doc.body["target_id"] async for doc in store.every("moderation_queue", _SUSPENDED)])

    return await store.unless_written("suspended_users", search)


def visible(doc: Body, reader: str | None, suspended: Collection[str]) -> bool:
    """Whether an article or comment shows to the reader: not hidden nor by a suspended user, or the reader's own."""
    if doc["author_id"] == reader:
        return True
    return not doc.get("hidden", False) and doc["author_id"] not in suspended


def unerased(found: Mapping[str, Doc]) -> dict[str, Body]:
    """The bodies of these user documents, without those of erased users."""
    return {doc_id: doc.body for doc_id, doc in found.items() if not doc.body.get("erased", False)}


def by_followee(found: Mapping[str, Doc]) -> dict[str, Body]:
    """These follow documents (one follower's), active or not, by followee."""
    return {doc.body["followee_id"]: doc.body for doc in found.values()}


def active_among(found: Mapping[str, Doc], field: str) -> set[str]:
    """`field` of each of these follow, bump or membership documents that is active now."""
    return {doc.body[field] for doc in found.values() if doc.body["active"]}


def block_ids(user_id: str, others: Sequence[str]) -> list[str]:
    """The ids of the blocks either way between this user and each of `others`."""
    return [i for other in others for i in (block_id(user_id, other), block_id(other, user_id))]


def hidden_by_blocks(found: Mapping[str, Doc], user_id: str) -> set[str]:
    """The other user of each of these block documents that is active now, whichever way it goes.

    Both ends of every active block, less the user: nobody blocks themself (services/social.py refuses it).
    """
    return (active_among(found, "blocker_id") | active_among(found, "blocked_id")) - {user_id}


def live_cards(
    found: Mapping[str, Doc], article_ids: Sequence[str], reader: str | None, suspended: Collection[str]
) -> list[Body]:
    """The cards of these articles that exist, are not deleted and show to the reader, in the order given."""
    return [
        body
        for a in article_ids
        if (doc := found.get(a)) is not None
        and not (body := doc.body)["deleted"]
        and visible(body, reader, suspended)
    ]


def _shown_to(reader: str | None, suspended: Collection[str]) -> tuple[tuple[Filter, ...], tuple[Filter, ...]]:
    """`visible` as (filters, any_of) of a query of articles or comments."""
    others = tuple(sorted(set(suspended) - {reader}))
    filters = (Filter("author_id", others, negate=True),) if others else ()
    if reader is None:
        return (*filters, _NOT_HIDDEN), ()
    return filters, (_NOT_HIDDEN, Filter("author_id", (reader,)))


TAGS_REFRESH = 10.0
"""Seconds one process serves a tag list it computed before computing it again (ReadModels.tags)."""


class ReadModels:
    def __init__(
        self,
        store: Store,
        handle_id: Callable[[str, str], Awaitable[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`handle_id(kind, value)`: the id of the handle document of a username or e-mail (a keyed digest);
        `clock`: seconds, for how old a kept tag list is."""
        self.store = store
        self.handle_id = handle_id
        self._tags = Kept(self._unless_written_tags, TAGS_REFRESH, clock)

    async def user(self, user_id: str) -> Body | None:
        """The user's document; None for no such user, or an erased one."""
        found = await self.store.get("users", [user_id])
        doc = found.get(user_id)
        return None if doc is None or doc.body.get("erased", False) else doc.body

    async def token_generation(self, user_id: str) -> int | None:
        """The user's token generation (0 in a users v1 document, written before it existed), or None: no such user."""
        user = await self.user(user_id)
        return None if user is None else int(user.get("token_generation", 0))

    async def users(self, user_ids: Sequence[str]) -> dict[str, Body]:
        return unerased(await self.store.get("users", list(user_ids)))

    async def holder(self, kind: str, value: str) -> str | None:
        """The user id a username or e-mail belongs to, case-insensitively."""
        handle = await self.handle_id(kind, value)
        found = await self.store.get("handles", [handle])
        return found[handle].body["user_id"] if handle in found else None

    async def user_by(self, kind: str, value: str) -> Body | None:
        user_id = await self.holder(kind, value)
        if user_id is None:
            return None
        user = await self.user(user_id)
        if user is None or user[kind].casefold() != value.casefold():
            return None
        return user

    async def following(self, follower_id: str | None, followee_ids: Sequence[str]) -> set[str]:
        """Which of these users the follower follows (none for an anonymous reader)."""
        if follower_id is None or not followee_ids:
            return set()
        ids = [follow_id(follower_id, f) for f in followee_ids]
        return active_among(await self.store.get("follows", ids), "followee_id")

    async def follow_docs(self, follower_id: str, followee_ids: Sequence[str]) -> dict[str, Body]:
        """The follower's follow documents of these users, active or not, by followee: one batched get."""
        if not followee_ids:
            return {}
        return by_followee(await self.store.get("follows", [follow_id(follower_id, f) for f in followee_ids]))

    async def newest_follows_of(self, followee_id: str) -> AsyncGenerator[Body]:
        """Active follows of this user that the user has not approved, most recently begun first.

        Read in pages of 100; a caller stops where the follows began before the user went private.
        """
        query = Query(
            filters=(Filter("followee_id", (followee_id,)), Filter("active", (True,)), Filter("approved", (False,))),
            sort=(("since", "desc"),),
            size=100,
            with_total=False,
        )
        async for doc in self.store.every("follows", query):
            yield doc.body

    async def followees(self, follower_id: str) -> list[str]:
        """Everyone the user follows."""
        query = Query(
            filters=(Filter("follower_id", (follower_id,)), Filter("active", (True,))),
            sort=(("followee_id", "asc"),),
            size=1000,
            with_total=False,
        )
        return [doc.body["followee_id"] async for doc in self.store.every("follows", query)]

    async def article(self, article_id: str) -> Body | None:
        found = await self.store.get("articles", [article_id])
        doc = found.get(article_id)
        return doc.body if doc is not None and not doc.body["deleted"] else None

    async def article_by_slug(self, slug: str) -> Body | None:
        page = await self.store.search(
            "articles", Query(filters=(Filter("slug", (slug,)), _LIVE), size=1, with_total=False)
        )
        return page.docs[0].body if page.docs else None

    async def suspended(self) -> frozenset[str]:
        return await suspended_users(self.store)

    async def articles(
        self,
        *,
        author_ids: Sequence[str] | None = None,
        tag: str | None = None,
        limit: int = 20,
        offset: int = 0,
        reader: str | None = None,
    ) -> tuple[list[Body], int]:
        """Live articles the reader may see, newest first, matching every given filter; with the total count."""
        shown, any_of = _shown_to(reader, await self.suspended())
        filters = [_LIVE, *shown]
        if author_ids is not None:
            filters.append(Filter("author_id", tuple(author_ids)))
        if tag is not None:
            filters.append(Filter("tags", (tag,)))
        page = await self.store.search(
            "articles", Query(filters=tuple(filters), any_of=any_of, sort=_NEWEST_FIRST, size=limit, offset=offset)
        )
        return [d.body for d in page.docs], page.total or 0

    async def bumped(self, reader: str | None, article_ids: Sequence[str]) -> set[str]:
        """Which of these articles the reader bumps now (none for an anonymous reader): one batched get."""
        if reader is None or not article_ids:
            return set()
        return active_among(await self.store.get("bumps", [bump_id(a, reader) for a in article_ids]), "article_id")

    async def favorites(
        self,
        user_id: str,
        *,
        author_ids: Sequence[str] | None = None,
        tag: str | None = None,
        limit: int = 20,
        offset: int = 0,
        reader: str | None = None,
    ) -> tuple[list[Body], int]:
        """Live articles the user bumps now that the reader may see, most recently bumped first, matching every
        given filter; with the total.

        The user's active bumps are read in pages, each page's articles in one batched get; an
        article deleted since, or outside the filters, is left out of the page and the total.
        The cost grows with the user's bumps (a page of 1,000 per step), not with anyone else's.
        """
        query = Query(
            filters=(Filter("user_id", (user_id,)), Filter("active", (True,))),
            sort=(("updated_at", "desc"),),
            size=1000,
            with_total=False,
        )
        authors = None if author_ids is None else set(author_ids)
        suspended = await self.suspended()
        matching: list[Body] = []
        page: list[str] = []
        async for doc in self.store.every("bumps", query):
            page.append(doc.body["article_id"])
            if len(page) == query.size:
                matching += await self._favorites_among(page, authors, tag)
                page = []
        matching += await self._favorites_among(page, authors, tag)
        matching = [body for body in matching if visible(body, reader, suspended)]
        return matching[offset : offset + limit], len(matching)

    async def _favorites_among(self, article_ids: list[str], authors: set[str] | None, tag: str | None) -> list[Body]:
        found = await self.store.get("articles", article_ids) if article_ids else {}
        return [
            body
            for body in (found[a].body for a in article_ids if a in found)
            if not body["deleted"]
            and (authors is None or body["author_id"] in authors)
            and (tag is None or tag in body["tags"])
        ]

    async def comment(self, article_id: str, comment_id: int) -> Body | None:
        doc_id = comment_doc_id(article_id, comment_id)
        found = await self.store.get("comments", [doc_id])
        doc = found.get(doc_id)
        return doc.body if doc is not None and not doc.body["deleted"] else None

    async def comments(self, article_id: str, limit: int = 500, reader: str | None = None) -> list[Body]:
        """The article's live comments the reader may see, newest first."""
        shown, any_of = _shown_to(reader, await self.suspended())
        page = await self.store.search(
            "comments",
            Query(
                filters=(Filter("article_id", (article_id,)), _LIVE, *shown),
                any_of=any_of,
                sort=_NEWEST_FIRST,
                size=limit,
            ),
        )
        return [d.body for d in page.docs]

    async def queue_item(self, key: str) -> Body | None:
        """One target of the moderation queue (reducers/moderation.py `target_key`)."""
        found = await self.store.get("moderation_queue", [key])
        return found[key].body if key in found else None

    async def queue(self, state: str | None, limit: int, offset: int) -> tuple[list[Body], int]:
        """The moderation queue: open targets first, then the most reported, then the latest; with the total."""
        page = await self.store.search(
            "moderation_queue",
            Query(
                filters=(Filter("state", (state,)),) if state is not None else (),
                sort=(("pending", "desc"), ("reports", "desc"), ("last_reported_at", "desc")),
                size=limit,
                offset=offset,
            ),
        )
        return [{**d.body, "id": d.id} for d in page.docs], page.total or 0

    async def tags(self, limit: int = 100, *, fresh: bool = False) -> list[str]:
        """The tags of the live articles everyone may see, the most used first.

        An aggregation over every live article (on SQLite 22 ms at 10,000 articles, 335 ms at
        100,000), the same for every reader and asked by every Conduit home page. A list computed
        here is served for TAGS_REFRESH seconds, and after that until the store is written to
        (Store.unless_written); requests that come while it is computed wait for that computation.
        So under writes the aggregation runs once every TAGS_REFRESH seconds per process, not once
        per request, and a tag shows on the list within TAGS_REFRESH seconds of its article.
        `fresh` (a reader who sent the positions of a write, X-Tribe-After) computes it now.
        """
        return list(await self._tags.get(limit, fresh=fresh))

    async def _unless_written_tags(self, limit: int) -> list[str]:
        return await self.store.unless_written(f"tags:{limit}", partial(self._tags_of, limit))

    async def _tags_of(self, limit: int) -> list[str]:
        shown, _ = _shown_to(None, await self.suspended())
        counts = await self.store.terms("articles", "tags", Query(filters=(_LIVE, *shown)), limit)
        return [tag for tag, _ in counts]


class SocialReads:
    """Queries of the DriveTribe read models: tribes, cards, feeds, blocks, stats, notifications, trends."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _ids(self, collection: str, filters: tuple[Filter, ...], field: str, limit: int = 10_000) -> list[str]:
        query = Query(filters=filters, sort=((field, "asc"),), size=1000, with_total=False)
        found: list[str] = []
        async for doc in self.store.every(collection, query):
            if len(found) == limit:
                break
            found.append(doc.body[field])
        return found

    async def _count(self, collection: str, filters: tuple[Filter, ...]) -> int:
        page = await self.store.search(collection, Query(filters=filters, size=0))
        return page.total or 0

    # -- blocks ----------------------------------------------------------------------------

    async def blocked_by(self, user_id: str) -> list[str]:
        """Everyone this user has blocked."""
        return await self._ids("blocks", (Filter("blocker_id", (user_id,)), Filter("active", (True,))), "blocked_id")

    async def blockers_of(self, user_id: str) -> list[str]:
        """Everyone who has blocked this user."""
        return await self._ids("blocks", (Filter("blocked_id", (user_id,)), Filter("active", (True,))), "blocker_id")

    async def hidden_among(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Which of `others` this user's feeds leave out: those they blocked and those who blocked them.

        One batched get of both directions' block ids: the same for a user blocked by millions.
        """
        found = await self.store.get("blocks", block_ids(user_id, others))
        return hidden_by_blocks(found, user_id)

    async def blockers_among(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Which of `others` have blocked `user_id`."""
        found = await self.store.get("blocks", [block_id(other, user_id) for other in others])
        return active_among(found, "blocker_id")

    # -- tribes ----------------------------------------------------------------------------

    async def tribe(self, tribe_id: str) -> Body | None:
        found = await self.store.get("tribes", [tribe_id])
        return found[tribe_id].body if tribe_id in found else None

    async def tribes(self, tribe_ids: Sequence[str]) -> dict[str, Body]:
        found = await self.store.get("tribes", list(tribe_ids))
        return {k: d.body for k, d in found.items()}

    async def tribe_page(
        self, text: str | None, size: int, after: tuple[Any, ...] | None
    ) -> tuple[list[Body], tuple[Any, ...] | None]:
        page = await self.store.search(
            "tribes",
            Query(
                text=text or None,
                text_fields=("name",),
                sort=(("member_count", "desc"),),
                size=size,
                search_after=after,
                with_total=False,
            ),
        )
        return [d.body for d in page.docs], page.next_search_after

    async def tribe_article_counts(self, tribe_ids: Sequence[str]) -> dict[str, int]:
        return {t: await self._count("articles", (Filter("tribe_id", (t,)), _LIVE)) for t in tribe_ids}

    async def member_of(self, user_id: str) -> list[str]:
        return await self._ids("memberships", (Filter("user_id", (user_id,)), Filter("active", (True,))), "tribe_id")

    async def joined(self, user_id: str | None, tribe_ids: Sequence[str]) -> set[str]:
        """Which of these tribes the user is a member of now (none for an anonymous reader): one batched get."""
        if user_id is None or not tribe_ids:
            return set()
        found = await self.store.get("memberships", [membership_id(user_id, t) for t in tribe_ids])
        return active_among(found, "tribe_id")

    # -- cards and feeds -------------------------------------------------------------------

    async def cards(self, article_ids: Sequence[str], reader: str | None = None) -> list[Body]:
        """The live cards of these articles the reader may see, in the order given."""
        found = await self.store.get("articles", list(article_ids))
        if not found:
            return []
        return live_cards(found, article_ids, reader, await suspended_users(self.store))

    async def article_authors(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The author of each of these articles the view has, deleted or not: one batched get."""
        found = await self.store.get("articles", list(article_ids))
        return {a: d.body["author_id"] for a, d in found.items()}

    # -- stats -----------------------------------------------------------------------------

    async def _followers(self, user_id: str) -> int:
        """The sum of the user's follower counters, one per partition of the follows topic (reducers/follows.py),
        read by id as the trend buckets are: the same for a user with a million followers.

        A store whose live follows view predates the counters (version 3, until `tribe replay follows`
        builds the current one and switches to it) has no `follower_counts`: there they are counted.
        """
        ids = [follower_count_id(user_id, p) for p in range(partitions(FOLLOWS))]
        try:
            counters = await self.store.get("follower_counts", ids)
        except KeyError:
            return await self._count("follows", (Filter("followee_id", (user_id,)), Filter("active", (True,))))
        return sum(doc.body["count"] for doc in counters.values())

    async def stats(self, user_id: str) -> dict[str, int]:
        """A user's counts. Followers are the sum of their few counters (`_followers`); the others are counted
        here, each over what the user did: on an embedded store from an index that holds every field the count or
        sum reads (CollectionSpec.compound, projections/views.py), so no article or follow is read."""
        active = Filter("active", (True,))
        return {
            "followers": await self._followers(user_id),
            "following": await self._count("follows", (Filter("follower_id", (user_id,)), active)),
            "articles": await self._count("articles", (Filter("author_id", (user_id,)), _LIVE)),
            "bumps_received": int(
                await self.store.sum_of(
                    "articles", "favorites_count", Query(filters=(Filter("author_id", (user_id,)), _LIVE))
                )
            ),
        }

    # -- notifications ---------------------------------------------------------------------

    async def live_comments(self, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (article id, comment id) pairs are comments that exist, neither deleted nor hidden."""
        found = await self.store.get("comments", [comment_doc_id(a, c) for a, c in keys])
        return {
            (d.body["article_id"], d.body["comment_id"])
            for d in found.values()
            if not d.body["deleted"] and not d.body.get("hidden", False)
        }

    async def notifications(self, user_id: str, limit: int) -> list[Body]:
        page = await self.store.search(
            "notifications",
            Query(
                filters=(Filter("recipient_id", (user_id,)), Filter("active", (True,))),
                sort=(("latest_at", "desc"),),
                size=limit,
                with_total=False,
            ),
        )
        return [{**d.body, "id": d.id} for d in page.docs]

    async def read_up_to(self, user_id: str) -> int:
        found = await self.store.get("notification_marks", [user_id])
        return found[user_id].body["read_up_to"] if user_id in found else 0

    # -- trending --------------------------------------------------------------------------

    async def trend_scores(self, bucket: str, since: int, until: int) -> dict[str, int]:
        """Scores per article, summed over the `bucket`-sized buckets from `since` to `until` (ms)."""
        starts = range(bucket_start(bucket, since), until + 1, WINDOWS[bucket])
        ids = [bucket_id(bucket, start, p) for start in starts for p in range(partitions(ARTICLES))]
        articles: dict[str, int] = {}
        for doc in (await self.store.get("trend_buckets", ids)).values():
            for article_id, score in doc.body["articles"].items():
                articles[article_id] = articles.get(article_id, 0) + score
        return articles

    async def trend_tags(self, article_ids: Sequence[str], reader: str | None = None) -> dict[str, list[str]]:
        """The tags of each of these articles that exists, is not deleted and shows to the reader: one batched get."""
        found = await self.store.get("trend_articles", list(article_ids))
        live = {doc_id: doc.body for doc_id, doc in found.items() if not doc.body["deleted"]}
        suspended = await suspended_users(self.store) if live else frozenset()
        return {doc_id: body["tags"] for doc_id, body in live.items() if visible(body, reader, suspended)}

    # -- search ----------------------------------------------------------------------------

    async def search_articles(
        self, text: str | None, tag: str | None, size: int, reader: str | None = None
    ) -> list[Body]:
        shown, any_of = _shown_to(reader, await suspended_users(self.store))
        filters = [_LIVE, *shown] + ([Filter("tags", (tag,))] if tag else [])
        page = await self.store.search(
            "articles",
            Query(
                filters=tuple(filters),
                any_of=any_of,
                text=text or None,
                text_fields=("title", "body"),
                sort=(("rank", "desc"),),
                size=size,
                with_total=False,
            ),
        )
        return [d.body for d in page.docs]

    async def search_usernames(self, prefix: str, size: int) -> list[str]:
        page = await self.store.search(
            "users",
            Query(
                prefix=Prefix("username_folded", prefix.casefold()),
                sort=(("username_folded", "asc"),),
                size=size,
                with_total=False,
            ),
        )
        return [d.body["user_id"] for d in page.docs if not d.body.get("erased", False)]


class Footprint:
    """What one user wrote or did in the views, for their erasure (services/erasure.py): every match, paged.

    The comments' author is not an indexed field of the embedded store: finding a user's comments
    scans the comments there, once per erasure.
    """

    collections = frozenset({"users", "articles", "comments", "bumps", "follows", "memberships", "moderation_reports"})
    """The collections it reads: the erasure runner lets their views catch up first."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _all(self, collection: str, filters: tuple[Filter, ...], *fields: str) -> list[tuple[Any, ...]]:
        assert collection in self.collections, f"{collection} is read without its view being waited for"
        query = Query(filters=filters, size=1000, with_total=False)
        return [tuple(doc.body[f] for f in fields) async for doc in self.store.every(collection, query)]

    async def articles_by(self, user_id: str) -> list[str]:
        """Every article they wrote, deleted ones too (a deleted card still holds its text)."""
        return [a for (a,) in await self._all("articles", (Filter("author_id", (user_id,)),), "article_id")]

    async def comments_by(self, user_id: str) -> list[tuple[str, int]]:
        found = await self._all("comments", (Filter("author_id", (user_id,)),), "article_id", "comment_id")
        return [(a, int(c)) for a, c in found]

    async def bumped_by(self, user_id: str) -> list[str]:
        filters = (Filter("user_id", (user_id,)), Filter("active", (True,)))
        return [a for (a,) in await self._all("bumps", filters, "article_id")]

    async def followed_by(self, user_id: str) -> list[str]:
        filters = (Filter("follower_id", (user_id,)), Filter("active", (True,)))
        return [f for (f,) in await self._all("follows", filters, "followee_id")]

    async def reported_by(self, user_id: str) -> list[str]:
        """The queue documents (reducers/moderation.py `target_key`) of the targets they reported."""
        filters = (Filter("reporter_id", (user_id,)),)
        return [k for (k,) in await self._all("moderation_reports", filters, "target_key")]

    async def tribes_of(self, user_id: str) -> list[str]:
        filters = (Filter("user_id", (user_id,)), Filter("active", (True,)))
        return [t for (t,) in await self._all("memberships", filters, "tribe_id")]

    async def handles_kept(self, user_id: str) -> tuple[str, ...]:
        """The handles an erased user still holds: those a change claimed after their erasure read the document."""
        found = (await self.store.get("users", [user_id])).get(user_id)
        if found is None or not found.body.get("erased", False):
            return ()
        return tuple(found.body.get("handles", []))
