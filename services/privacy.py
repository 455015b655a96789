"""Private profiles: who may read a private user's articles, decided when read.

A user who is private (`ProfilePrivacySet`, the users view's `private` and `private_since`) is
read only by themself and by followers whose follow opens them: one the user approved
(`FollowApproved`), or one that began before the user last went private (`since <
private_since`), so going private costs one event whatever the number of followers. A follow
made after that is a request until approved; a denied one ends. Blocks hide both ways as
before, on the paths that apply them.

The decision reads two read models with point lookups: the author's user document (the users
view) and the reader's own follow document of that author (the follows view). Either may lag
the log by a moment: an author who went private a moment ago is read as public until the users
view has the event (the PUT that made them private answers once it has, in the process that
answered); an approval or a denial is seen once the follows view has it. A reader who sends
`X-Tribe-After` with a write's positions reads after it. An author the users view does not
hold is read as closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from reducers.documents import Follow
from reducers.follows import follow_since
from services.ports import Ports

Body = dict[str, Any]


def is_private(author: Body) -> bool:
    """A users v2 document (written before private profiles) is public."""
    return bool(author.get("private", False))


def follow_opens(follow: Body | None, author: Body) -> bool:
    """Whether this follow document (a reader's, of `author`) opens a private author's articles."""
    if follow is None or not follow["active"]:
        return False
    if follow.get("approved", False):
        return True
    private_since = author.get("private_since")
    return private_since is not None and follow_since(cast(Follow, follow)) < private_since


def is_request(follow: Body | None, author: Body) -> bool:
    """An active follow of a private author that does not open them yet: a pending request."""
    return follow is not None and follow["active"] and is_private(author) and not follow_opens(follow, author)


async def open_authors(
    ports: Ports, reader: str | None, authors: Mapping[str, Body], follows: Mapping[str, Body] | None = None
) -> set[str]:
    """Which of these authors (id to user document) `reader` may read: the public ones, themself, and the private
    ones their follow opens (one batched get of the reader's follow documents, only when a private one is there).

    `follows`: the reader's follow documents of these authors, by followee, when the caller has read them.
    """
    closed = sorted(a for a, doc in authors.items() if is_private(doc) and a != reader)
    opened = set(authors) - set(closed)
    if reader is not None and closed:
        if follows is None:
            follows = await ports.reads.follow_docs(reader, closed)
        opened.update(a for a in closed if follow_opens(follows.get(a), authors[a]))
    return opened


async def readable(ports: Ports, reader: str | None, docs: Sequence[Body]) -> list[Body]:
    """The documents (articles, cards: anything with an `author_id`) `reader` may read, in their order.

    One batched get of the authors' user documents, and one of the reader's follows when a private author is there.
    """
    return (await readable_with_authors(ports, reader, docs))[0]


async def readable_with_authors(
    ports: Ports, reader: str | None, docs: Sequence[Body]
) -> tuple[list[Body], dict[str, Body]]:
    """`readable`, and the user documents of the authors it read, for a caller that presents them next."""
    if not docs:
        return [], {}
    authors = await ports.reads.users(sorted({d["author_id"] for d in docs}))
    opened = await open_authors(ports, reader, authors)
    return [d for d in docs if d["author_id"] in opened], authors
