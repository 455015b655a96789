"""Read models as the JSON shapes clients expect: Conduit's under /api, the native ones under /v1."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import orjson

from services.moderation import QueueView, Reported
from services.notifications import NotificationView
from services.social import BlockState, FollowerState
from services.views import ArticleView, CardView, CommentView, Profile, TribeView

Body = dict[str, Any]


@functools.lru_cache(maxsize=1 << 14)
def iso(millis: int) -> str:
    """Milliseconds since the epoch as ISO 8601 in UTC (time.gmtime: a third of datetime's cost).

    Remembered: a page of 20 articles formats 40 of them, and the same articles' times come back
    request after request.
    """
    t = time.gmtime(millis // 1000)
    date = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    return f"{date}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis % 1000:03d}Z"


# -- Conduit -----------------------------------------------------------------------------------


def user(doc: Body, token: str) -> Body:
    return {
        "user": {
            "email": doc["email"],
            "token": token,
            "username": doc["username"],
            "bio": doc["bio"],
            "image": doc["image"] or "",
            "displayName": doc.get("display_name") or doc["username"],
            "private": bool(doc.get("private", False)),
        }
    }


def profile(shown: Profile) -> Body:
    """`following`: the viewer follows them and may read them; `requested`: a request to a private user, pending."""
    return {**_person(shown.user), "following": shown.following, "requested": shown.requested}


def article(shown: ArticleView) -> Body:
    doc = shown.article
    return {**_card(doc), "favorited": shown.favorited, "author": profile(shown.author), "body": doc["body"]}


def listed_article(shown: ArticleView) -> orjson.Fragment:
    """`article` without its body, as JSON (orjson writes a Fragment as it is): an article of a page.

    What follows from the card alone, and from its author's user document alone, is encoded once per
    document (`_encoded`); only the reader's flags are joined to it per request. Building and encoding
    the two dicts for each article of a page was a tenth of a feed request's instructions.
    """
    author = shown.author
    return orjson.Fragment(
        b"".join(
            (
                _encoded(_CARDS, shown.article, _card),
                _FAVORITED[shown.favorited],
                _encoded(_PEOPLE, author.user, _person),
                _FOLLOWING[author.following],
                _REQUESTED[author.requested],
                b"}}",
            )
        )
    )


def _card(doc: Body) -> Body:
    """What Conduit shows of an article that is the same for every reader, but its body."""
    return {
        "slug": doc["slug"],
        "title": doc["title"],
        "description": doc["description"],
        "tagList": doc["tags"],
        "createdAt": iso(doc["created_at"]),
        "updatedAt": iso(doc["updated_at"]),
        "favoritesCount": doc["favorites_count"],
    }


def _person(doc: Body) -> Body:
    """What Conduit shows of a user that is the same for every viewer."""
    return {
        "username": doc["username"],
        "bio": doc["bio"],
        "image": doc["image"] or "",
        "private": bool(doc.get("private", False)),
    }


ENCODED_DOCUMENTS = 4096
"""Documents whose JSON is remembered, of each kind; past that every one of that kind is forgotten at once."""
_CARDS: dict[int, tuple[Body, bytes]] = {}
_PEOPLE: dict[int, tuple[Body, bytes]] = {}
_FAVORITED = {True: b',"favorited":true,"author":', False: b',"favorited":false,"author":'}
_FOLLOWING = {True: b',"following":true', False: b',"following":false'}
_REQUESTED = {True: b',"requested":true', False: b',"requested":false'}


def _encoded(remembered: dict[int, tuple[Body, bytes]], doc: Body, shown: Callable[[Body], Body]) -> bytes:
    """The JSON of `shown(doc)` without its closing brace, remembered by document object.

    A store that keeps what it parsed serves one object for a document while its version stands
    (projections/adapters/parsed_docs.py), and nothing changes a body it is given (the reducers'
    property tests, the services by review), so one object always shows the same. The entry holds
    the object, so no other document can take its id while it is remembered. A store that parses
    every read makes a new object each time, and pays an encoding as before, plus a lookup.
    """
    entry = remembered.get(id(doc))
    if entry is not None:
        return entry[1]
    if len(remembered) >= ENCODED_DOCUMENTS:
        remembered.clear()
    encoded = orjson.dumps(shown(doc))[:-1]
    remembered[id(doc)] = (doc, encoded)
    return encoded


def comment(shown: CommentView) -> Body:
    doc = shown.comment
    return {
        "id": doc["comment_id"],
        "createdAt": iso(doc["created_at"]),
        "updatedAt": iso(doc["updated_at"]),
        "body": doc["body"],
        "author": profile(shown.author),
    }


# -- /v1 -----------------------------------------------------------------------------------------


def author(doc: Body) -> Body:
    return {
        "id": doc["user_id"],
        "username": doc["username"],
        "display_name": doc.get("display_name") or doc["username"],
        "image": doc["image"],
    }


def card(shown: CardView) -> Body:
    d, tribe = shown.card, shown.tribe
    return {
        "id": d["article_id"],
        "slug": d["slug"],
        "title": d["title"],
        "description": d["description"],
        "tags": d["tags"],
        "tribe": {"id": tribe["tribe_id"], "name": tribe["name"]} if tribe else None,
        "author": author(shown.author),
        "counts": {"views": d["views"], "comments": d["comments_count"], "bumps": d["favorites_count"]},
        "bumped": shown.bumped,
        "rank": d["rank"],
        "created_at": iso(d["created_at"]),
        "updated_at": iso(d["updated_at"]),
    }


def tribe(shown: TribeView) -> Body:
    d = shown.tribe
    return {
        "id": d["tribe_id"],
        "name": d["name"],
        "description": d["description"],
        "owner_id": d["owner_id"],
        "member_count": d["member_count"],
        "article_count": shown.article_count,
        "joined": shown.joined,
        "created_at": iso(d["created_at"]),
    }


_VERBS = {
    "bump": "bumped",
    "comment": "commented on",
    "mention": "mentioned you in a comment on",
    "follow": "followed you",
}


def _sentence(kind: str, first: str, others: int, title: str | None) -> str:
    who = first if others == 0 else f"{first} and {others} other{'s' if others > 1 else ''}"
    what = f" \u201c{title}\u201d" if title and kind != "follow" else ""
    return f"{who} {_VERBS[kind]}{what}"


def notification(shown: NotificationView) -> Body:
    group, latest = shown.group, shown.latest_actor
    return {
        "id": group["id"],
        "kind": group["kind"],
        "text": _sentence(group["kind"], latest["username"], shown.actor_count - 1, shown.article_title),
        "actor_count": shown.actor_count,
        "latest_actor": author(latest),
        "article": {"id": group["article_id"], "title": shown.article_title} if group["article_id"] else None,
        "comment_id": group["comment_id"],
        "at": iso(group["latest_at"]),
        "unread": shown.unread,
    }


def block(state: BlockState) -> Body:
    return {"username": state.username, "blocked": state.blocked}


def follower(state: FollowerState) -> Body:
    return {"username": state.username, "following": state.following, "approved": state.approved}


def report(reported: Reported) -> Body:
    return {
        "target_kind": reported.target_kind,
        "target_id": reported.target_id,
        "article_id": reported.article_id,
        "reason": reported.reason,
    }


_QUEUE_ITEM = (
    "id",
    "target_kind",
    "target_id",
    "article_id",
    "reports",
    "reasons",
    "first_reported_at",
    "last_reported_at",
    "state",
    "decided_by",
    "decided_source",
    "decided_at",
    "decision_reason",
)


def queue_item(shown: QueueView) -> Body:
    """A moderation queue document with what the moderator judges it by (`pending` only orders the queue)."""
    return {**{name: shown.item[name] for name in _QUEUE_ITEM}, "shown": shown.shown}
