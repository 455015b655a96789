"""The queries the API asks of the read models, in the Store port's terms (so every adapter serves them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from projections.store import Filter, Query, Store
from reducers.follows import follow_id

Body = dict[str, Any]
_LIVE = Filter("deleted", (False,))
_NEWEST_FIRST = (("created_at", "desc"),)


class ReadModels:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def user(self, user_id: str) -> Body | None:
        found = await self.store.get("users", [user_id])
        return found[user_id].body if user_id in found else None

    async def users(self, user_ids: Sequence[str]) -> dict[str, Body]:
        found = await self.store.get("users", list(user_ids))
        return {doc_id: doc.body for doc_id, doc in found.items()}

    async def holder(self, kind: str, value: str) -> str | None:
        """The user id a username or e-mail belongs to, case-insensitively."""
        handle = f"{kind}:{value.lower()}"
        found = await self.store.get("handles", [handle])
        return found[handle].body["user_id"] if handle in found else None

    async def user_by(self, kind: str, value: str) -> Body | None:
        user_id = await self.holder(kind, value)
        if user_id is None:
            return None
        user = await self.user(user_id)
        if user is None or user[kind].lower() != value.lower():
            return None
        return user

    async def following(self, follower_id: str | None, followee_ids: Sequence[str]) -> set[str]:
        """Which of these users the follower follows (none for an anonymous reader)."""
        if follower_id is None or not followee_ids:
            return set()
        ids = [follow_id(follower_id, f) for f in followee_ids]
        found = await self.store.get("follows", ids)
        return {doc.body["followee_id"] for doc in found.values() if doc.body["active"]}

    async def followees(self, follower_id: str) -> list[str]:
        """Everyone the user follows."""
        query = Query(
            filters=(Filter("follower_id", (follower_id,)), Filter("active", (True,))),
            sort=(("followee_id", "asc"),),
            size=1000,
            with_total=False,
        )
        followees: list[str] = []
        while True:
            page = await self.store.search("follows", query)
            followees += [d.body["followee_id"] for d in page.docs]
            if page.next_search_after is None:
                return followees
            query = replace(query, search_after=page.next_search_after)

    async def article(self, article_id: str) -> Body | None:
        found = await self.store.get("articles", [article_id])
        doc = found.get(article_id)
        return doc.body if doc is not None and not doc.body["deleted"] else None

    async def article_by_slug(self, slug: str) -> Body | None:
        page = await self.store.search(
            "articles", Query(filters=(Filter("slug", (slug,)), _LIVE), size=1, with_total=False)
        )
        return page.docs[0].body if page.docs else None

    async def articles(
        self,
        *,
        author_ids: Sequence[str] | None = None,
        tag: str | None = None,
        favorited_by: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[Body], int]:
        """Live articles, newest first, matching every given filter; with the total count."""
        filters = [_LIVE]
        if author_ids is not None:
            filters.append(Filter("author_id", tuple(author_ids)))
        if tag is not None:
            filters.append(Filter("tags", (tag,)))
        if favorited_by is not None:
            filters.append(Filter("favorited_by", (favorited_by,)))
        page = await self.store.search(
            "articles", Query(filters=tuple(filters), sort=_NEWEST_FIRST, size=limit, offset=offset)
        )
        return [d.body for d in page.docs], page.total or 0

    async def comment(self, comment_id: int) -> Body | None:
        found = await self.store.get("comments", [str(comment_id)])
        doc = found.get(str(comment_id))
        return doc.body if doc is not None and not doc.body["deleted"] else None

    async def comments(self, article_id: str, limit: int = 500) -> list[Body]:
        page = await self.store.search(
            "comments",
            Query(filters=(Filter("article_id", (article_id,)), _LIVE), sort=_NEWEST_FIRST, size=limit),
        )
        return [d.body for d in page.docs]

    async def tags(self, limit: int = 100) -> list[str]:
        counts = await self.store.terms("articles", "tags", Query(filters=(_LIVE,)), limit)
        return [tag for tag, _ in counts]

