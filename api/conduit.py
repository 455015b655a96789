"""The RealWorld Conduit API under /api: every write is one event appended to the log."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from api import present
from api.articles import edited, published
from api.bodies import envelope, fields, json_body, text
from api.context import (
    POSITION_HEADER,
    consistent_read,
    event_fields,
    now_ms,
    require_user,
    respond,
    services,
    toggle,
    user_named,
    viewer,
    write,
)
from api.errors import ApiError, forbidden, not_found, unauthorized, unprocessable
from api.guards import mentioned_users, not_blocked_by
from api.security import hash_password, verify_password
from api.writer import Written
from events.catalogue import (
    ArticleBumped,
    ArticleDeleted,
    ArticleUnbumped,
    CommentDeleted,
    CommentPosted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    UserUpdated,
)
from events.ids import new_event_id, new_numeric_id

Body = dict[str, Any]
routes = web.RouteTableDef()

MAX_OFFSET = 1_000_000
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


def _check_username(value: str) -> str:
    if not _USERNAME.match(value):
        raise unprocessable("username", "must be 1-64 letters, digits, '_', '.' or '-'")
    return value


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise unprocessable("email", "is invalid")
    return value


def _check_password(value: str) -> str:
    if len(value) < 8 or len(value) > 256:
        raise unprocessable("password", "must be 8 to 256 characters")
    return value


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.split(" ", 1)[1].strip()


# -- users -----------------------------------------------------------------------------


@routes.post("/api/users")
async def register(request: web.Request) -> web.Response:
    given = fields(
        envelope(await json_body(request), "user"),
        required={"username": str, "email": str, "password": str},
    )
    username = _check_username(given["username"])
    email = _check_email(given["email"])
    password = _check_password(given["password"])
    reads = services(request).reads
    if await reads.holder("username", username):
        raise unprocessable("username", "has already been taken")
    if await reads.holder("email", email):
        raise unprocessable("email", "has already been taken")
    user_id = new_event_id()
    event = UserRegistered(
        event_id=new_event_id(),
        actor_id=user_id,
        occurred_at=now_ms(),
        username=username,
        email=email,
        password_hash=await asyncio.to_thread(hash_password, password),
    )
    written = await write(request, event)
    user = await reads.user(user_id)
    if user is None:
        taken = "username" if await reads.holder("username", username) != user_id else "email"
        raise unprocessable(taken, "has already been taken")
    return respond(present.user(user, services(request).tokens.issue(user_id)), written, status=201)


@routes.post("/api/users/login")
async def login(request: web.Request) -> web.Response:
    given = fields(envelope(await json_body(request), "user"), required={"email": str, "password": str})
    user = await services(request).reads.user_by("email", given["email"])
    if user is None or not await asyncio.to_thread(verify_password, given["password"], user["password_hash"]):
        raise ApiError(401, "credentials", "email or password is invalid")
    return respond(present.user(user, services(request).tokens.issue(user["user_id"])))


@routes.get("/api/user")
async def current_user(request: web.Request) -> web.Response:
    user_id = require_user(request)
    await consistent_read(request)
    user = await services(request).reads.user(user_id)
    if user is None:
        raise unauthorized("names a user that does not exist")
    return respond(present.user(user, _token(request)))


@routes.put("/api/user")
async def update_user(request: web.Request) -> web.Response:
    user_id = require_user(request)
    given = fields(
        envelope(await json_body(request), "user"),
        required={},
        optional={"username": str, "email": str, "password": str, "bio": str, "image": str, "displayName": str},
    )
    reads = services(request).reads
    if await reads.user(user_id) is None:
        raise unauthorized("names a user that does not exist")
    for kind, check in (("username", _check_username), ("email", _check_email)):
        if given.get(kind) is not None:
            check(given[kind])
            holder = await reads.holder(kind, given[kind])
            if holder not in (None, user_id):
                raise unprocessable(kind, "has already been taken")
    password = given.get("password")
    password_hash = await asyncio.to_thread(hash_password, _check_password(password)) if password is not None else None
    event = UserUpdated(
        **event_fields(request),
        username=given.get("username"),
        email=given.get("email"),
        bio=text(given["bio"], "bio", max_length=10_000, blank=True) if given.get("bio") is not None else None,
        image=text(given["image"], "image", max_length=2_000, blank=True) if given.get("image") is not None else None,
        password_hash=password_hash,
        display_name=(
            text(given["displayName"], "displayName", max_length=100)
            if given.get("displayName") is not None
            else None
        ),
    )
    written = await write(request, event)
    user = await reads.user(user_id)
    assert user is not None
    for kind in ("username", "email"):
        if given.get(kind) is not None and user[kind] != given[kind]:
            raise unprocessable(kind, "has already been taken")
    return respond(present.user(user, _token(request)), written)


# -- profiles ------------------------------------------------------------------------------


@routes.get("/api/profiles/{username}")
async def get_profile(request: web.Request) -> web.Response:
    await consistent_read(request)
    target = await user_named(request, "profile")
    following = await services(request).reads.following(viewer(request), [target["user_id"]])
    return respond({"profile": present.profile(target, bool(following))})


async def _follow(request: web.Request, *, follow: bool) -> web.Response:
    me = require_user(request)
    target = await user_named(request, "profile")
    if target["user_id"] == me:
        raise unprocessable("profile", "you cannot follow yourself")
    if follow:
        await not_blocked_by(request, me, [target["user_id"]], "profile")
    reads = services(request).reads
    cls = UserFollowed if follow else UserUnfollowed
    written = await toggle(
        request,
        bool(await reads.following(me, [target["user_id"]])),
        follow,
        lambda: cls(**event_fields(request), followee_id=target["user_id"]),
    )
    following = await reads.following(me, [target["user_id"]])
    return respond({"profile": present.profile(target, bool(following))}, written)


@routes.post("/api/profiles/{username}/follow")
async def follow(request: web.Request) -> web.Response:
    return await _follow(request, follow=True)


@routes.delete("/api/profiles/{username}/follow")
async def unfollow(request: web.Request) -> web.Response:
    return await _follow(request, follow=False)


# -- articles --------------------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", "20"))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit", "limit and offset must be integers") from None
    if not 1 <= limit <= 100 or not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "limit", f"limit must be 1-100 and offset 0-{MAX_OFFSET}")
    return limit, offset


async def _present_articles(
    request: web.Request, docs: list[Body], *, with_body: bool, followed: set[str] | None = None
) -> list[Body]:
    """Conduit's article shapes; `followed`: whom the viewer follows, when the caller knows already."""
    reads = services(request).reads
    author_ids = sorted({d["author_id"] for d in docs})
    authors = await reads.users(author_ids)
    following = followed if followed is not None else await reads.following(viewer(request), author_ids)
    return [
        present.article(
            d,
            authors[d["author_id"]],
            viewer=viewer(request),
            following=d["author_id"] in following,
            with_body=with_body,
        )
        for d in docs
        if d["author_id"] in authors
    ]


@routes.get("/api/articles")
async def list_articles(request: web.Request) -> web.Response:
    await consistent_read(request)
    limit, offset = _paging(request)
    reads = services(request).reads
    author_ids = None
    favorited_by = None
    if "author" in request.query:
        author_ids = [uid] if (uid := await reads.holder("username", request.query["author"])) else []
    if "favorited" in request.query:
        favorited_by = await reads.holder("username", request.query["favorited"]) or "-"
    docs, total = await reads.articles(
        author_ids=author_ids, tag=request.query.get("tag"), favorited_by=favorited_by, limit=limit, offset=offset
    )
    articles = await _present_articles(request, docs, with_body=False)
    return respond({"articles": articles, "articlesCount": total})


@routes.get("/api/articles/feed")
async def feed(request: web.Request) -> web.Response:
    me = require_user(request)
    await consistent_read(request)
    limit, offset = _paging(request)
    reads = services(request).reads
    hidden = await services(request).social.hidden_from(me)
    followees = [f for f in await reads.followees(me) if f not in hidden]
    docs, total = await reads.articles(author_ids=followees, limit=limit, offset=offset)
    articles = await _present_articles(request, docs, with_body=False, followed=set(followees))
    return respond({"articles": articles, "articlesCount": total})


async def _article(request: web.Request) -> Body:
    doc = await services(request).reads.article_by_slug(request.match_info["slug"])
    if doc is None:
        raise not_found("article")
    return doc


async def _article_response(request: web.Request, article_id: str, written: Written | None, status: int = 200) -> web.Response:
    doc = await services(request).reads.article(article_id)
    if doc is None:
        raise not_found("article")
    [shown] = await _present_articles(request, [doc], with_body=True)
    return respond({"article": shown}, written, status)


@routes.get("/api/articles/{slug}")
async def get_article(request: web.Request) -> web.Response:
    await consistent_read(request)
    doc = await _article(request)
    return await _article_response(request, doc["article_id"], None)


@routes.post("/api/articles")
async def create_article(request: web.Request) -> web.Response:
    given = fields(
        envelope(await json_body(request), "article"),
        required={"title": str, "description": str, "body": str},
        optional={"tagList": list},
    )
    event = published(
        event_fields(request),
        title=given["title"],
        description=given["description"],
        body=given["body"],
        tags=given.get("tagList") or [],
        tags_field="tagList",
    )
    written = await write(request, event)
    return await _article_response(request, event.article_id, written, status=201)


async def _own_article(request: web.Request) -> Body:
    me = require_user(request)
    doc = await _article(request)
    if doc["author_id"] != me:
        raise forbidden("article")
    return doc


@routes.put("/api/articles/{slug}")
async def update_article(request: web.Request) -> web.Response:
    require_user(request)
    given = fields(
        envelope(await json_body(request), "article"),
        required={},
        optional={"title": str, "description": str, "body": str},
    )
    doc = await _own_article(request)
    event = edited(
        event_fields(request),
        doc["article_id"],
        title=given.get("title"),
        description=given.get("description"),
        body=given.get("body"),
    )
    written = await write(request, event)
    return await _article_response(request, doc["article_id"], written)


@routes.delete("/api/articles/{slug}")
async def delete_article(request: web.Request) -> web.Response:
    doc = await _own_article(request)
    written = await write(request, ArticleDeleted(**event_fields(request), article_id=doc["article_id"]))
    return web.Response(status=204, headers={POSITION_HEADER: written.token()})


async def _favorite(request: web.Request, *, bump: bool) -> web.Response:
    me = require_user(request)
    doc = await _article(request)
    cls = ArticleBumped if bump else ArticleUnbumped
    written = await toggle(
        request, me in doc["favorited_by"], bump, lambda: cls(**event_fields(request), article_id=doc["article_id"])
    )
    return await _article_response(request, doc["article_id"], written)


@routes.post("/api/articles/{slug}/favorite")
async def favorite(request: web.Request) -> web.Response:
    return await _favorite(request, bump=True)


@routes.delete("/api/articles/{slug}/favorite")
async def unfavorite(request: web.Request) -> web.Response:
    return await _favorite(request, bump=False)


# -- comments --------------------------------------------------------------------------------


async def _present_comments(request: web.Request, docs: list[Body]) -> list[Body]:
    reads = services(request).reads
    author_ids = sorted({d["author_id"] for d in docs})
    authors = await reads.users(author_ids)
    following = await reads.following(viewer(request), author_ids)
    return [
        present.comment(d, authors[d["author_id"]], d["author_id"] in following)
        for d in docs
        if d["author_id"] in authors
    ]


@routes.get("/api/articles/{slug}/comments")
async def list_comments(request: web.Request) -> web.Response:
    await consistent_read(request)
    doc = await _article(request)
    comments = await services(request).reads.comments(doc["article_id"])
    return respond({"comments": await _present_comments(request, comments)})


@routes.post("/api/articles/{slug}/comments")
async def add_comment(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(envelope(await json_body(request), "comment"), required={"body": str})
    body = text(given["body"], "body", max_length=10_000)
    doc = await _article(request)
    mentions = await mentioned_users(request, body)
    await not_blocked_by(request, me, [doc["author_id"]], "article")
    await not_blocked_by(request, me, mentions, "mention")
    comment_id = new_numeric_id()
    event = CommentPosted(
        **event_fields(request),
        article_id=doc["article_id"],
        comment_id=comment_id,
        body=body,
        mentions=tuple(mentions),
    )
    written = await write(request, event)
    comment = await services(request).reads.comment(doc["article_id"], comment_id)
    if comment is None:
        raise not_found("article")
    [shown] = await _present_comments(request, [comment])
    return respond({"comment": shown}, written)


@routes.delete("/api/articles/{slug}/comments/{id}")
async def delete_comment(request: web.Request) -> web.Response:
    me = require_user(request)
    doc = await _article(request)
    try:
        comment_id = int(request.match_info["id"])
    except ValueError:
        raise not_found("comment") from None
    comment = await services(request).reads.comment(doc["article_id"], comment_id)
    if comment is None:
        raise not_found("comment")
    if comment["author_id"] != me:
        raise forbidden("comment")
    written = await write(
        request, CommentDeleted(**event_fields(request), article_id=doc["article_id"], comment_id=comment_id)
    )
    return web.Response(status=204, headers={POSITION_HEADER: written.token()})


@routes.get("/api/tags")
async def tags(request: web.Request) -> web.Response:
    await consistent_read(request)
    return respond({"tags": await services(request).reads.tags()})
