"""/v1: notifications, trending and search."""

from __future__ import annotations

from aiohttp import web

from api import present
from api.answers import answer, json_response
from api.bodies import fields, json_object
from api.errors import ApiError
from api.paging import page_size
from api.requests import after, ports, require_user, viewer
from services import activity, notifications, rules

routes = web.RouteTableDef()


@routes.get("/v1/users/{username}/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    me = require_user(request)
    limit = page_size(request, default=50, most=notifications.NEWEST_GROUPS)
    inbox = await notifications.inbox(ports(request), me, request.match_info["username"], limit, after(request))
    shown = [present.notification(n) for n in inbox.notifications]
    return json_response({"notifications": shown, "unread_count": inbox.unread_count})


@routes.post("/v1/notifications/read")
async def mark_read(request: web.Request) -> web.Response:
    """Mark every notification up to a time (ms since the epoch; default now) as read."""
    me = require_user(request)
    up_to = None
    if request.can_read_body:
        up_to = fields(await json_object(request), required={}, optional={"up_to": int}).get("up_to")
    outcome = await notifications.mark_read(ports(request), me, up_to)
    return answer(outcome, lambda read_up_to: {"read_up_to": read_up_to})


@routes.get("/v1/trending")
async def trending(request: web.Request) -> web.Response:
    """Top articles and tags by bumps and comments over the last hour or day."""
    window = request.query.get("window", "1h")
    limit = page_size(request, default=10, most=50)
    found = await activity.trending(ports(request), window, limit, viewer(request), after(request))
    return json_response(
        {
            "window": window,
            "articles": [{"score": score, "article": present.card(c)} for score, c in found.articles],
            "tags": [{"tag": t, "score": s} for t, s in found.tags],
        }
    )


def _given(request: web.Request, name: str) -> str | None:
    """A query parameter without its surrounding blanks (services/rules.py), or None when it was not sent."""
    value = request.query.get(name)
    return None if value is None else rules.stripped(value)


_SEARCH_PARAMETERS = frozenset({"q", "tag", "limit", "after"})


@routes.get("/v1/search/articles")
async def search_articles(request: web.Request) -> web.Response:
    """An unknown query parameter is refused, as an unknown body member is: `?tags=` is a typo of `?tag=`, and
    a search that ignored it would answer with matches that were never asked for."""
    unknown = sorted(set(request.query) - _SEARCH_PARAMETERS)
    if unknown:
        raise ApiError(400, "query", f"unknown parameters {unknown}: the search takes q, tag, limit and after")
    words, tag = _given(request, "q"), _given(request, "tag")
    cards = await activity.search_articles(
        ports(request), words, tag, page_size(request), viewer(request), after(request)
    )
    return json_response({"articles": [present.card(c) for c in cards]})


@routes.get("/v1/search/users")
async def search_users(request: web.Request) -> web.Response:
    prefix = rules.stripped(request.query.get("prefix", ""))
    users = await activity.search_users(ports(request), prefix, page_size(request), after(request))
    return json_response({"users": [present.author(u) for u in users]})


@routes.get("/v1/search/tribes")
async def search_tribes(request: web.Request) -> web.Response:
    words = rules.stripped(request.query.get("q", ""))
    shown = await activity.search_tribes(ports(request), words, page_size(request), viewer(request), after(request))
    return json_response({"tribes": [present.tribe(t) for t in shown]})
