"""/v1: tribes, article cards, the ranked feed, blocks, follow requests and user stats."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import present
from api.answers import answer, json_response
from api.bodies import fields, json_object
from api.paging import decode_cursor, encode_cursor, page_size
from api.requests import after, ports, require_user, viewer
from services import articles, feeds, social, tribes
from services.views import CardView, TribeView

routes = web.RouteTableDef()


def _tribe(shown: TribeView) -> dict[str, Any]:
    return {"tribe": present.tribe(shown)}


def _card(shown: CardView) -> dict[str, Any]:
    return {"article": present.card(shown)}


# -- tribes ----------------------------------------------------------------------------------


@routes.post("/v1/tribes")
async def create_tribe(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(await json_object(request), required={"name": str}, optional={"description": str})
    command = tribes.CreateTribe(me, given["name"], given.get("description") or "")
    return answer(await tribes.create(ports(request), command), _tribe, status=201)


@routes.get("/v1/tribes")
async def list_tribes(request: web.Request) -> web.Response:
    shown, cursor = await tribes.page(
        ports(request),
        request.query.get("q"),
        page_size(request),
        decode_cursor(request),
        viewer(request),
        after(request),
    )
    return json_response({"tribes": [present.tribe(t) for t in shown], "next_cursor": encode_cursor(cursor)})


@routes.get("/v1/tribes/{tribe_id}")
async def get_tribe(request: web.Request) -> web.Response:
    shown = await tribes.view(ports(request), request.match_info["tribe_id"], viewer(request), after(request))
    return json_response(_tribe(shown))


async def _membership(request: web.Request, *, join: bool) -> web.Response:
    outcome = await tribes.membership(ports(request), require_user(request), request.match_info["tribe_id"], join=join)
    return answer(outcome, _tribe)


@routes.post("/v1/tribes/{tribe_id}/join")
async def join_tribe(request: web.Request) -> web.Response:
    return await _membership(request, join=True)


@routes.post("/v1/tribes/{tribe_id}/leave")
async def leave_tribe(request: web.Request) -> web.Response:
    return await _membership(request, join=False)


# -- article cards and the feed --------------------------------------------------------------


@routes.post("/v1/articles")
async def publish(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(
        await json_object(request),
        required={"title": str, "body": str},
        optional={"description": str, "tags": list, "tribe_id": str},
    )
    command = articles.Publish(
        me,
        given["title"],
        given.get("description") or "",
        given["body"],
        tags=given.get("tags") or [],
        tags_field="tags",
        tribe_id=given.get("tribe_id"),
    )
    return answer(await articles.publish_card(ports(request), command), _card, status=201)


@routes.get("/v1/articles/{article_id}")
async def get_card(request: web.Request) -> web.Response:
    shown = await articles.card(ports(request), request.match_info["article_id"], viewer(request), after(request))
    return json_response(_card(shown))


@routes.get("/v1/feed")
async def ranked_feed(request: web.Request) -> web.Response:
    """Cards from followed authors and joined tribes, best rank first."""
    me = require_user(request)
    cards, cursor = await feeds.ranked_feed(
        ports(request), me, page_size(request), decode_cursor(request), after(request)
    )
    return json_response({"items": [present.card(c) for c in cards], "next_cursor": encode_cursor(cursor)})


# -- blocks and stats --------------------------------------------------------------------------


async def _block(request: web.Request, *, on: bool) -> web.Response:
    outcome = await social.block(ports(request), require_user(request), request.match_info["username"], on=on)
    return answer(outcome, present.block)


@routes.post("/v1/users/{username}/block")
async def block(request: web.Request) -> web.Response:
    return await _block(request, on=True)


@routes.delete("/v1/users/{username}/block")
async def unblock(request: web.Request) -> web.Response:
    return await _block(request, on=False)


# -- follow requests (private profiles) -------------------------------------------------------


@routes.get("/v1/follow-requests")
async def follow_requests(request: web.Request) -> web.Response:
    found = await social.follow_requests(ports(request), require_user(request), page_size(request), after(request))
    shown = [{"user": present.author(r.user), "requested_at": present.iso(r.at)} for r in found]
    return json_response({"requests": shown})


async def _answer(request: web.Request, *, approve: bool) -> web.Response:
    outcome = await social.answer_request(
        ports(request), require_user(request), request.match_info["username"], approve=approve
    )
    return answer(outcome, present.follower)


@routes.post("/v1/follow-requests/{username}/approve")
async def approve_follow(request: web.Request) -> web.Response:
    return await _answer(request, approve=True)


@routes.post("/v1/follow-requests/{username}/deny")
async def deny_follow(request: web.Request) -> web.Response:
    return await _answer(request, approve=False)


@routes.get("/v1/users/{username}/stats")
async def user_stats(request: web.Request) -> web.Response:
    username, stats = await social.stats(ports(request), request.match_info["username"], after(request))
    return json_response({"username": username, "stats": stats})
