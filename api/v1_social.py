"""/v1: tribes, article cards, the ranked feed, blocks and user stats."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.bodies import fields, json_body, text
from api.cards import decode_cursor, encode_cursor, page_size, present_cards
from api.articles import published
from api.context import consistent_read, event_fields, require_user, respond, services, toggle, user_named, viewer, write
from api.errors import forbidden, not_found, unprocessable
from api.present import iso
from api.writer import Written
from events.ids import new_event_id
from events.catalogue import (
    TribeCreated,
    TribeJoined,
    TribeLeft,
    UserBlocked,
    UserUnblocked,
)

Body = dict[str, Any]
routes = web.RouteTableDef()


# -- tribes ----------------------------------------------------------------------------------


async def present_tribes(request: web.Request, docs: list[Body]) -> list[Body]:
    counts = await services(request).social.tribe_article_counts([d["tribe_id"] for d in docs])
    me = viewer(request)
    return [
        {
            "id": d["tribe_id"],
            "name": d["name"],
            "description": d["description"],
            "owner_id": d["owner_id"],
            "member_count": d["member_count"],
            "article_count": counts[d["tribe_id"]],
            "joined": me is not None and me in d["members"],
            "created_at": iso(d["created_at"]),
        }
        for d in docs
    ]


async def _tribe_response(request: web.Request, tribe_id: str, written: Written | None, status: int = 200) -> web.Response:
    doc = await services(request).social.tribe(tribe_id)
    if doc is None:
        raise not_found("tribe")
    [shown] = await present_tribes(request, [doc])
    return respond({"tribe": shown}, written, status)


@routes.post("/v1/tribes")
async def create_tribe(request: web.Request) -> web.Response:
    require_user(request)
    given = fields(await _object(request), required={"name": str}, optional={"description": str})
    tribe_id = new_event_id()
    event = TribeCreated(
        **event_fields(request),
        tribe_id=tribe_id,
        name=text(given["name"], "name", max_length=100),
        description=text(given.get("description") or "", "description", max_length=2_000, blank=True),
    )
    written = await write(request, event)
    return await _tribe_response(request, tribe_id, written, status=201)


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise unprocessable("body", "must be a JSON object")
    return body


@routes.get("/v1/tribes")
async def list_tribes(request: web.Request) -> web.Response:
    await consistent_read(request)
    docs, after = await services(request).social.tribe_page(
        request.query.get("q"), page_size(request), decode_cursor(request)
    )
    return respond({"tribes": await present_tribes(request, docs), "next_cursor": encode_cursor(after)})


@routes.get("/v1/tribes/{tribe_id}")
async def get_tribe(request: web.Request) -> web.Response:
    await consistent_read(request)
    return await _tribe_response(request, request.match_info["tribe_id"], None)


async def _membership(request: web.Request, *, join: bool) -> web.Response:
    me = require_user(request)
    tribe = await services(request).social.tribe(request.match_info["tribe_id"])
    if tribe is None:
        raise not_found("tribe")
    cls = TribeJoined if join else TribeLeft
    written = await toggle(
        request, me in tribe["members"], join, lambda: cls(**event_fields(request), tribe_id=tribe["tribe_id"])
    )
    return await _tribe_response(request, tribe["tribe_id"], written)


@routes.post("/v1/tribes/{tribe_id}/join")
async def join_tribe(request: web.Request) -> web.Response:
    return await _membership(request, join=True)


@routes.post("/v1/tribes/{tribe_id}/leave")
async def leave_tribe(request: web.Request) -> web.Response:
    return await _membership(request, join=False)


# -- article cards and the feed --------------------------------------------------------------


async def _card_response(request: web.Request, article_id: str, written: Written | None, status: int = 200) -> web.Response:
    docs = await services(request).social.cards([article_id])
    cards = await present_cards(request, docs)
    if not cards:
        raise not_found("article")
    return respond({"article": cards[0]}, written, status)


@routes.post("/v1/articles")
async def publish(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(
        await _object(request),
        required={"title": str, "body": str},
        optional={"description": str, "tags": list, "tribe_id": str},
    )
    tribe_id = given.get("tribe_id")
    if tribe_id is not None:
        tribe = await services(request).social.tribe(tribe_id)
        if tribe is None:
            raise not_found("tribe_id")
        if me not in tribe["members"]:
            raise forbidden("tribe_id", "is a tribe you have not joined")
    event = published(
        event_fields(request),
        title=given["title"],
        description=given.get("description") or "",
        body=given["body"],
        tags=given.get("tags") or [],
        tags_field="tags",
        tribe_id=tribe_id,
    )
    written = await write(request, event)
    return await _card_response(request, event.article_id, written, status=201)


@routes.get("/v1/articles/{article_id}")
async def get_card(request: web.Request) -> web.Response:
    await consistent_read(request)
    return await _card_response(request, request.match_info["article_id"], None)


@routes.get("/v1/feed")
async def ranked_feed(request: web.Request) -> web.Response:
    """Cards from followed authors and joined tribes, best rank first (see reducers/ranking.py)."""
    me = require_user(request)
    await consistent_read(request)
    social = services(request).social
    followees = await services(request).reads.followees(me)
    tribes = await social.member_of(me)
    hidden = sorted(await social.hidden_from(me))
    docs, after = await social.ranked_feed(followees, tribes, hidden, page_size(request), decode_cursor(request))
    return respond({"items": await present_cards(request, docs), "next_cursor": encode_cursor(after)})


# -- blocks and stats --------------------------------------------------------------------------


async def _block(request: web.Request, *, block: bool) -> web.Response:
    me = require_user(request)
    target = await user_named(request, "user")
    if target["user_id"] == me:
        raise unprocessable("user", "you cannot block yourself")
    social = services(request).social
    cls = UserBlocked if block else UserUnblocked
    written = await toggle(
        request,
        target["user_id"] in await social.blocked_by(me),
        block,
        lambda: cls(**event_fields(request), blocked_id=target["user_id"]),
    )
    blocked = target["user_id"] in await social.blocked_by(me)
    return respond({"username": target["username"], "blocked": blocked}, written)


@routes.post("/v1/users/{username}/block")
async def block(request: web.Request) -> web.Response:
    return await _block(request, block=True)


@routes.delete("/v1/users/{username}/block")
async def unblock(request: web.Request) -> web.Response:
    return await _block(request, block=False)


@routes.get("/v1/users/{username}/stats")
async def user_stats(request: web.Request) -> web.Response:
    await consistent_read(request)
    user = await user_named(request, "user")
    return respond({"username": user["username"], "stats": await services(request).social.stats(user["user_id"])})
