"""The OpenAPI document of the /v1 API, served at /v1/openapi.json (tests keep it in sync with the routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.answers import json_response

routes = web.RouteTableDef()

_AUTH: list[dict[str, list[str]]] = [{"Token": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_ERRORS = {
    "400": {"$ref": "#/components/responses/Error"},
    "401": {"$ref": "#/components/responses/Error"},
    "403": {"$ref": "#/components/responses/Error"},
    "404": {"$ref": "#/components/responses/Error"},
    "422": {"$ref": "#/components/responses/Error"},
    "429": {"$ref": "#/components/responses/TooManyRequests"},
    "503": {"$ref": "#/components/responses/Error"},
}
_ACCEPTED = _json(_ref("Accepted"), "Durable, but the read models have not caught up within the wait")


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    status: str = "200",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok, **_ERRORS}}
    if auth:
        op["security"] = _AUTH
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if status in ("200", "201") and auth and body is not None:
        op["responses"]["202"] = _ACCEPTED
    return op


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": kind}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_PAGE = [_query("limit", "page size", "integer"), _query("cursor", "next_cursor of the previous page")]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Tribestream native API",
        "version": "1.0.0",
        "description": (
            "The DriveTribe read models (tribes, article cards, ranked feeds, notifications, stats, "
            "trending, search) and raw events. Writes answer from the read model once it reflects them "
            "(X-Tribe-Position header); send that token back as X-Tribe-After on any read to wait for it. "
            "Every client has budgets of reads and writes per window (per user, or per IP address when "
            "anonymous): answers carry RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), "
            "and a request over a budget is answered 429 with Retry-After."
        ),
    },
    "paths": {
        "/v1/events": {
            "post": _op(
                "Append raw events (views, bumps, follows), all-or-nothing",
                _json(
                    _obj(
                        ["events"],
                        events={
                            "type": "array",
                            "items": _obj(
                                ["event_id", "position"], event_id={"type": "string"}, position={"type": "string"}
                            ),
                        },
                    ),
                    "Appended",
                ),
                auth=True,
                status="202",
                body={
                    "type": "array",
                    "maxItems": 1000,
                    "items": _obj(
                        ["type"],
                        type={
                            "enum": [
                                "ArticleViewed",
                                "ArticleBumped",
                                "ArticleUnbumped",
                                "UserFollowed",
                                "UserUnfollowed",
                            ]
                        },
                        event_id={"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                        article_id={"type": "string"},
                        followee_id={"type": "string"},
                        referrer={"type": "string"},
                    ),
                },
            )
        },
        "/v1/logout": {
            "post": {
                "summary": "End every session of the user: every token issued to them so far is refused from now on",
                "security": _AUTH,
                "responses": {
                    "204": {"description": "Logged out; the X-Tribe-Position header says where"},
                    "202": _ACCEPTED,
                    **_ERRORS,
                },
            }
        },
        "/v1/tribes": {
            "get": _op(
                "List tribes, most members first; q filters by words of the name",
                _json(
                    _obj(
                        ["tribes", "next_cursor"],
                        tribes={"type": "array", "items": _ref("Tribe")},
                        next_cursor={"type": ["string", "null"]},
                    ),
                    "A page of tribes",
                ),
                params=[_query("q", "words of the name"), *_PAGE],
            ),
            "post": _op(
                "Create a tribe (the creator joins it)",
                _json(_obj(["tribe"], tribe=_ref("Tribe")), "Created"),
                auth=True,
                status="201",
                body=_obj(["name"], name={"type": "string", "maxLength": 100}, description={"type": "string"}),
            ),
        },
        "/v1/tribes/{tribe_id}": {
            "get": _op(
                "A tribe with member and article counts",
                _json(_obj(["tribe"], tribe=_ref("Tribe")), "The tribe"),
                params=[_path("tribe_id")],
            )
        },
        "/v1/tribes/{tribe_id}/join": {
            "post": _op(
                "Join a tribe (repeating is not an error)",
                _json(_obj(["tribe"], tribe=_ref("Tribe")), "The tribe"),
                auth=True,
                params=[_path("tribe_id")],
            )
        },
        "/v1/tribes/{tribe_id}/leave": {
            "post": _op(
                "Leave a tribe (repeating is not an error)",
                _json(_obj(["tribe"], tribe=_ref("Tribe")), "The tribe"),
                auth=True,
                params=[_path("tribe_id")],
            )
        },
        "/v1/articles": {
            "post": _op(
                "Publish an article, optionally into a tribe you joined",
                _json(_obj(["article"], article=_ref("Card")), "The card"),
                auth=True,
                status="201",
                body=_obj(
                    ["title", "body"],
                    title={"type": "string"},
                    body={"type": "string"},
                    description={"type": "string"},
                    tags={"type": "array", "items": {"type": "string"}},
                    tribe_id={"type": "string"},
                ),
            )
        },
        "/v1/articles/{article_id}": {
            "get": _op(
                "An article card",
                _json(_obj(["article"], article=_ref("Card")), "The card"),
                params=[_path("article_id")],
            )
        },
        "/v1/feed": {
            "get": _op(
                "Cards from followed authors and joined tribes, best rank first "
                "(rank = log10(1 + bumps + 2 comments + views/10) + (created_at - 2023-11-14) / 45000 s)",
                _json(
                    _obj(
                        ["items", "next_cursor"],
                        items={"type": "array", "items": _ref("Card")},
                        next_cursor={"type": ["string", "null"]},
                    ),
                    "A page of the feed",
                ),
                auth=True,
                params=_PAGE,
            )
        },
        "/v1/users/{username}/notifications": {
            "get": _op(
                "Your own notifications, grouped, newest first (403 for anyone else's)",
                _json(
                    _obj(
                        ["notifications", "unread_count"],
                        notifications={"type": "array", "items": _ref("Notification")},
                        unread_count={"type": "integer"},
                    ),
                    "Notifications",
                ),
                auth=True,
                params=[_path("username"), _query("limit", "at most 200", "integer")],
            )
        },
        "/v1/notifications/read": {
            "post": _op(
                "Mark notifications read up to a time (ms since the epoch; default now)",
                _json(_obj(["read_up_to"], read_up_to={"type": "integer"}), "Marked"),
                auth=True,
            )
        },
        "/v1/users/{username}/block": {
            "post": _op(
                "Block a user: they cannot follow, comment on or mention you,"
                " and disappear from your feed and notifications",
                _json(
                    _obj(["username", "blocked"], username={"type": "string"}, blocked={"type": "boolean"}),
                    "Block state",
                ),
                auth=True,
                params=[_path("username")],
            ),
            "delete": _op(
                "Lift a block",
                _json(
                    _obj(["username", "blocked"], username={"type": "string"}, blocked={"type": "boolean"}),
                    "Block state",
                ),
                auth=True,
                params=[_path("username")],
            ),
        },
        "/v1/users/{username}/stats": {
            "get": _op(
                "Followers, following, articles and bumps received",
                _json(
                    _obj(
                        ["username", "stats"],
                        username={"type": "string"},
                        stats=_obj(
                            ["followers", "following", "articles", "bumps_received"],
                            followers={"type": "integer"},
                            following={"type": "integer"},
                            articles={"type": "integer"},
                            bumps_received={"type": "integer"},
                        ),
                    ),
                    "Stats",
                ),
                params=[_path("username")],
            )
        },
        "/v1/trending": {
            "get": _op(
                "Top articles and tags by bumps and comments"
                " over the last hour (5-minute buckets) or day (hourly buckets)",
                _json(
                    _obj(
                        ["window", "articles", "tags"],
                        window={"type": "string"},
                        articles={
                            "type": "array",
                            "items": _obj(["score", "article"], score={"type": "integer"}, article=_ref("Card")),
                        },
                        tags={
                            "type": "array",
                            "items": _obj(["tag", "score"], tag={"type": "string"}, score={"type": "integer"}),
                        },
                    ),
                    "Trending",
                ),
                params=[
                    {"name": "window", "in": "query", "required": False, "schema": {"enum": ["1h", "24h"]}},
                    _query("limit", "at most 50", "integer"),
                ],
            )
        },
        "/v1/search/articles": {
            "get": _op(
                "Articles by words in title and body, and/or by tag",
                _json(_obj(["articles"], articles={"type": "array", "items": _ref("Card")}), "Matches"),
                params=[
                    _query("q", "words (all must match)"),
                    _query("tag", "a tag"),
                    _query("limit", "page size", "integer"),
                ],
            )
        },
        "/v1/search/users": {
            "get": _op(
                "Users by username prefix",
                _json(_obj(["users"], users={"type": "array", "items": _ref("Author")}), "Matches"),
                params=[_query("prefix", "start of a username"), _query("limit", "page size", "integer")],
            )
        },
        "/v1/search/tribes": {
            "get": _op(
                "Tribes by words of their name",
                _json(_obj(["tribes"], tribes={"type": "array", "items": _ref("Tribe")}), "Matches"),
                params=[_query("q", "words of the name"), _query("limit", "page size", "integer")],
            )
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1"},
                    "429": {"$ref": "#/components/responses/TooManyRequests"},
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "Token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <jwt>"}
        },
        "responses": {
            "Error": _json(
                _obj(
                    ["errors"],
                    errors={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                ),
                "What is wrong, by field",
            ),
            "TooManyRequests": {
                **_json(
                    _obj(
                        ["errors"],
                        errors=_obj(["rate"], rate={"type": "array", "items": {"type": "string"}}),
                    ),
                    "Over a rate-limit budget: nothing was done; retry after Retry-After seconds",
                ),
                "headers": {
                    "Retry-After": {
                        "description": "Seconds until the exceeded budget comes back",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    "RateLimit-Policy": {
                        "description": 'The budgets this request counts against, e.g. "reads";q=1200;w=60 '
                        "(q requests per w seconds)",
                        "schema": {"type": "string"},
                    },
                    "RateLimit": {
                        "description": 'Where the client stands in each, e.g. "reads";r=0;t=42 '
                        "(r requests left, t seconds until the window ends)",
                        "schema": {"type": "string"},
                    },
                },
            },
        },
        "schemas": {
            "Accepted": _obj(
                ["status", "positions"],
                status={"const": "accepted"},
                positions={"type": "array", "items": {"type": "string"}},
            ),
            "Author": _obj(
                ["id", "username", "display_name", "image"],
                id={"type": "string"},
                username={"type": "string"},
                display_name={"type": "string"},
                image={"type": ["string", "null"]},
            ),
            "Tribe": _obj(
                ["id", "name", "description", "owner_id", "member_count", "article_count", "joined", "created_at"],
                id={"type": "string"},
                name={"type": "string"},
                description={"type": "string"},
                owner_id={"type": "string"},
                member_count={"type": "integer"},
                article_count={"type": "integer"},
                joined={"type": "boolean"},
                created_at={"type": "string", "format": "date-time"},
            ),
            "Card": _obj(
                [
                    "id",
                    "slug",
                    "title",
                    "description",
                    "tags",
                    "tribe",
                    "author",
                    "counts",
                    "bumped",
                    "rank",
                    "created_at",
                    "updated_at",
                ],
                id={"type": "string"},
                slug={"type": "string"},
                title={"type": "string"},
                description={"type": "string"},
                tags={"type": "array", "items": {"type": "string"}},
                tribe={
                    "oneOf": [{"type": "null"}, _obj(["id", "name"], id={"type": "string"}, name={"type": "string"})]
                },
                author=_ref("Author"),
                counts=_obj(
                    ["views", "comments", "bumps"],
                    views={"type": "integer"},
                    comments={"type": "integer"},
                    bumps={"type": "integer"},
                ),
                bumped={"type": "boolean"},
                rank={"type": "integer"},
                created_at={"type": "string", "format": "date-time"},
                updated_at={"type": "string", "format": "date-time"},
            ),
            "Notification": _obj(
                ["id", "kind", "text", "actor_count", "latest_actor", "article", "comment_id", "at", "unread"],
                id={"type": "string"},
                kind={"enum": ["bump", "comment", "mention", "follow"]},
                text={"type": "string"},
                actor_count={"type": "integer"},
                latest_actor=_ref("Author"),
                article={
                    "oneOf": [{"type": "null"}, _obj(["id", "title"], id={"type": "string"}, title={"type": "string"})]
                },
                comment_id={"type": ["integer", "null"]},
                at={"type": "string", "format": "date-time"},
                unread={"type": "boolean"},
            ),
        },
    },
}


@routes.get("/v1/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    return json_response(DOCUMENT)
