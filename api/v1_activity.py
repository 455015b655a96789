"""/v1: notifications, trending and search."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.answers import json_response
from api.bodies import fields, json_body
from api.cards import author, page_size, present_cards
from api.context import consistent_read, event_fields, now_ms, require_user, respond, services, user_named, write
from api.errors import ApiError, forbidden, unprocessable
from api.present import iso
from api.v1_social import present_tribes
from events.catalogue import NotificationsRead
from events.routing import ARTICLES, PARTITIONS
from reducers.trending import WINDOWS, bucket_id, bucket_start

Body = dict[str, Any]
routes = web.RouteTableDef()

_VERBS = {
    "bump": "bumped",
    "comment": "commented on",
    "mention": "mentioned you in a comment on",
    "follow": "followed you",
}
_NEWEST_GROUPS = 200
# a trending window: (its length, the bucket size that covers it)
TREND_WINDOWS: dict[str, tuple[int, str]] = {"1h": (3_600_000, "5m"), "24h": (86_400_000, "1h")}


def _sentence(kind: str, first: str, others: int, title: str | None) -> str:
    who = first if others == 0 else f"{first} and {others} other{'s' if others > 1 else ''}"
    what = f" \u201c{title}\u201d" if title and kind != "follow" else ""
    return f"{who} {_VERBS[kind]}{what}"


@routes.get("/v1/users/{username}/notifications")
async def notifications(request: web.Request) -> web.Response:
    """The user's own notifications, grouped, newest first.

    Without self-caused ones, actors the reader blocked, deleted articles and deleted comments.
    """
    me = require_user(request)
    await consistent_read(request)
    target = await user_named(request, "user")
    if target["user_id"] != me:
        raise forbidden("notifications", "belong to someone else")
    social = services(request).social
    limit = page_size(request, default=50, most=_NEWEST_GROUPS)
    groups = await social.notifications(me, _NEWEST_GROUPS)
    hidden = set(await social.blocked_by(me)) | {me}
    read_up_to = await social.read_up_to(me)
    live_articles = {c["article_id"] for c in await social.cards(sorted({g["article_id"] for g in groups if g["article_id"]}))}
    mentions = [(g["article_id"], g["comment_id"]) for g in groups if g["kind"] == "mention"]
    live_mentions = await social.live_comments(mentions) if mentions else set()
    visible = []
    for group in groups:
        if group["article_id"] and group["article_id"] not in live_articles:
            continue
        if group["kind"] == "mention" and (group["article_id"], group["comment_id"]) not in live_mentions:
            continue
        actors = [a for a in group["actors"] if a not in hidden]
        if actors:
            latest = group["latest_actor_id"] if group["latest_actor_id"] in actors else actors[-1]
            visible.append((group, actors, latest))
    names = await services(request).reads.users(sorted({latest for _, _, latest in visible[:limit]}))
    shown = []
    for group, actors, latest in visible[:limit]:
        if latest not in names:
            continue
        first = names[latest]["username"]
        shown.append(
            {
                "id": group["id"],
                "kind": group["kind"],
                "text": _sentence(group["kind"], first, len(actors) - 1, group["article_title"]),
                "actor_count": len(actors),
                "latest_actor": author(names[latest]),
                "article": {"id": group["article_id"], "title": group["article_title"]} if group["article_id"] else None,
                "comment_id": group["comment_id"],
                "at": iso(group["latest_at"]),
                "unread": group["latest_at"] > read_up_to,
            }
        )
    unread = sum(1 for group, _, _ in visible if group["latest_at"] > read_up_to)
    return json_response({"notifications": shown, "unread_count": unread})


@routes.post("/v1/notifications/read")
async def mark_read(request: web.Request) -> web.Response:
    """Mark every notification up to a time (ms since the epoch; default now) as read."""
    require_user(request)
    now = up_to = now_ms()
    if request.can_read_body:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise unprocessable("body", "must be a JSON object")
        given = fields(body, required={}, optional={"up_to": int})
        up_to = given.get("up_to", up_to)
        if not 0 <= up_to <= now:
            raise unprocessable("up_to", "must be a time (ms since the epoch) not in the future")
    written = await write(request, NotificationsRead(**event_fields(request), up_to=up_to))
    return respond({"read_up_to": up_to}, written)


@routes.get("/v1/trending")
async def trending(request: web.Request) -> web.Response:
    """Top articles and tags by bumps and comments over the last hour or day (5-minute or hourly buckets)."""
    await consistent_read(request)
    window = request.query.get("window", "1h")
    if window not in TREND_WINDOWS:
        raise ApiError(400, "window", "must be one of " + ", ".join(TREND_WINDOWS))
    length, bucket = TREND_WINDOWS[window]
    limit = page_size(request, default=10, most=50)
    now = now_ms()
    starts = range(bucket_start(bucket, now - length), now + 1, WINDOWS[bucket])
    ids = [bucket_id(bucket, start, p) for start in starts for p in range(PARTITIONS[ARTICLES])]
    article_scores: dict[str, int] = {}
    tag_scores: dict[str, int] = {}
    for doc in await services(request).social.trend_buckets(ids):
        for article_id, score in doc["articles"].items():
            article_scores[article_id] = article_scores.get(article_id, 0) + score
        for tag, score in doc["tags"].items():
            tag_scores[tag] = tag_scores.get(tag, 0) + score
    top = sorted((a for a, s in article_scores.items() if s > 0), key=lambda a: (-article_scores[a], a))
    cards = await present_cards(request, await services(request).social.cards(top[: limit * 2]))
    tags = sorted(((t, s) for t, s in tag_scores.items() if s > 0), key=lambda ts: (-ts[1], ts[0]))[:limit]
    return json_response(
        {
            "window": window,
            "articles": [{"score": article_scores[c["id"]], "article": c} for c in cards[:limit]],
            "tags": [{"tag": t, "score": s} for t, s in tags],
        }
    )


@routes.get("/v1/search/articles")
async def search_articles(request: web.Request) -> web.Response:
    await consistent_read(request)
    words, tag = request.query.get("q", "").strip(), request.query.get("tag", "").strip()
    if not words and not tag:
        raise ApiError(400, "q", "give words to find (q) or a tag")
    docs = await services(request).social.search_articles(words or None, tag or None, page_size(request))
    return json_response({"articles": await present_cards(request, docs)})


@routes.get("/v1/search/users")
async def search_users(request: web.Request) -> web.Response:
    await consistent_read(request)
    prefix = request.query.get("prefix", "").strip()
    if not prefix:
        raise ApiError(400, "prefix", "give the start of a username")
    ids = await services(request).social.search_usernames(prefix, page_size(request))
    users = await services(request).reads.users(ids)
    return json_response({"users": [author(users[i]) for i in ids if i in users]})


@routes.get("/v1/search/tribes")
async def search_tribes(request: web.Request) -> web.Response:
    await consistent_read(request)
    words = request.query.get("q", "").strip()
    if not words:
        raise ApiError(400, "q", "give words of a tribe's name")
    docs, _ = await services(request).social.tribe_page(words, page_size(request), None)
    return json_response({"tribes": await present_tribes(request, docs)})
