"""The RealWorld Conduit API under /api: parse the request, call one service, present its result."""

from __future__ import annotations

from aiohttp import web

from api import present
from api.answers import answer, json_response, no_content
from api.bodies import envelope, fields, json_body
from api.requests import after, int_param, integer, ports, require_user, token, viewer
from services import accounts, articles, comments, erasure, feeds, social
from services.errors import NotFound
from services.views import ArticlePage, ArticleView

routes = web.RouteTableDef()
_ARTICLE_READ_ONLY = frozenset({"slug", "createdAt", "updatedAt", "author", "favorited", "favoritesCount"})
"""Fields of Conduit's article a front end echoes back when it saves an edit."""
_ARTICLE = "/api/articles/{slug:(?!feed$)[^{}/]+}"
"""An article by slug. No slug is `feed` (slugs end in a piece of the article id), so /api/articles/feed is
the feed alone, and a 405 there names only its own methods."""


# -- users -----------------------------------------------------------------------------


@routes.post("/api/users")
async def register(request: web.Request) -> web.Response:
    given = fields(
        envelope(await json_body(request), "user"),
        required={"username": str, "email": str, "password": str},
    )
    command = accounts.Register(given["username"], given["email"], given["password"])
    outcome = await accounts.register(ports(request), command)
    return answer(outcome, lambda session: present.user(session.user, session.token), status=201)


@routes.post("/api/users/login")
async def login(request: web.Request) -> web.Response:
    given = fields(envelope(await json_body(request), "user"), required={"email": str, "password": str})
    session = await accounts.login(ports(request), given["email"], given["password"])
    return json_response(present.user(session.user, session.token))


@routes.get("/api/user")
async def current_user(request: web.Request) -> web.Response:
    user = await accounts.current_user(ports(request), require_user(request), after(request))
    return json_response(present.user(user, token(request)))


@routes.put("/api/user")
async def update_user(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(
        envelope(await json_body(request), "user"),
        required={},
        optional={
            "username": str,
            "email": str,
            "password": str,
            "bio": str,
            "image": str,
            "displayName": str,
            "private": bool,
        },
    )
    # A settings form sends every field back: each with its value (a prefilled form, where an empty bio is
    # one a person erased: React's Conduit), or the fields a person did not touch as empty strings (Angular's).
    # A username or e-mail is never empty, so an empty one marks the second kind: there an empty bio or image
    # is untouched too; anywhere else it clears the field, as RealWorld's own server does. An empty username,
    # e-mail, password or display name (none may be empty) means "unchanged".
    untouched_are_empty = given.get("username") == "" or given.get("email") == ""

    def profile_text(name: str) -> str | None:
        value: str | None = given.get(name)
        return None if value == "" and untouched_are_empty else value

    command = accounts.UpdateUser(
        me,
        username=given.get("username") or None,
        email=given.get("email") or None,
        password=given.get("password") or None,
        bio=profile_text("bio"),
        image=profile_text("image"),
        display_name=given.get("displayName") or None,
        private=given.get("private"),
    )
    outcome = await accounts.update_user(ports(request), command)
    return answer(outcome, lambda session: present.user(session.user, session.token))


@routes.delete("/api/user")
async def delete_user(request: web.Request) -> web.Response:
    """Not Conduit's: the account's deletion (docs/privacy.md), confirmed by its password."""
    me = require_user(request)
    given = fields(envelope(await json_body(request), "user"), required={"password": str})
    return no_content(await erasure.erase_account(ports(request), me, given["password"]))


# -- profiles ------------------------------------------------------------------------------


@routes.get("/api/profiles/{username}")
async def get_profile(request: web.Request) -> web.Response:
    shown = await social.profile(ports(request), request.match_info["username"], viewer(request), after(request))
    return json_response({"profile": present.profile(shown)})


async def _follow(request: web.Request, *, on: bool) -> web.Response:
    outcome = await social.follow(ports(request), require_user(request), request.match_info["username"], on=on)
    return answer(outcome, lambda shown: {"profile": present.profile(shown)})


@routes.post("/api/profiles/{username}/follow")
async def follow(request: web.Request) -> web.Response:
    return await _follow(request, on=True)


@routes.delete("/api/profiles/{username}/follow")
async def unfollow(request: web.Request) -> web.Response:
    return await _follow(request, on=False)


# -- articles --------------------------------------------------------------------------------


def _paging(request: web.Request) -> tuple[int, int]:
    return int_param(request, "limit", 20), int_param(request, "offset", 0)


def _article(shown: ArticleView) -> dict[str, object]:
    return {"article": present.article(shown)}


def _page(page: ArticlePage) -> web.Response:
    listed = [present.listed_article(a) for a in page.articles]
    return json_response({"articles": listed, "articlesCount": page.total})


@routes.get("/api/articles")
async def list_articles(request: web.Request) -> web.Response:
    limit, offset = _paging(request)
    query = articles.Listing(
        viewer(request),
        author=request.query.get("author"),
        tag=request.query.get("tag"),
        favorited=request.query.get("favorited"),
        limit=limit,
        offset=offset,
    )
    return _page(await articles.listing(ports(request), query, after(request)))


@routes.get("/api/articles/feed")
async def feed(request: web.Request) -> web.Response:
    me = require_user(request)
    limit, offset = _paging(request)
    return _page(await feeds.feed(ports(request), me, limit, offset, after(request)))


@routes.get(_ARTICLE)
async def get_article(request: web.Request) -> web.Response:
    shown = await articles.get(ports(request), request.match_info["slug"], viewer(request), after(request))
    return json_response(_article(shown))


@routes.post("/api/articles")
async def create_article(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(
        envelope(await json_body(request), "article"),
        required={"title": str, "description": str, "body": str},
        optional={"tagList": list},
    )
    command = articles.Publish(
        me, given["title"], given["description"], given["body"], tags=given.get("tagList") or [], tags_field="tagList"
    )
    return answer(await articles.publish(ports(request), command), _article, status=201)


@routes.put(_ARTICLE)
async def update_article(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(
        envelope(await json_body(request), "article"),
        required={},
        optional={"title": str, "description": str, "body": str, "tagList": list},
        echoed=_ARTICLE_READ_ONLY,
    )
    command = articles.Edit(
        me,
        request.match_info["slug"],
        title=given.get("title"),
        description=given.get("description"),
        body=given.get("body"),
        tags=given.get("tagList"),
    )
    return answer(await articles.edit(ports(request), command), _article)


@routes.delete(_ARTICLE)
async def delete_article(request: web.Request) -> web.Response:
    return no_content(await articles.delete(ports(request), require_user(request), request.match_info["slug"]))


async def _favorite(request: web.Request, *, on: bool) -> web.Response:
    outcome = await articles.favorite(ports(request), require_user(request), request.match_info["slug"], on=on)
    return answer(outcome, _article)


@routes.post("/api/articles/{slug}/favorite")
async def favorite(request: web.Request) -> web.Response:
    return await _favorite(request, on=True)


@routes.delete("/api/articles/{slug}/favorite")
async def unfavorite(request: web.Request) -> web.Response:
    return await _favorite(request, on=False)


# -- comments --------------------------------------------------------------------------------


@routes.get("/api/articles/{slug}/comments")
async def list_comments(request: web.Request) -> web.Response:
    shown = await comments.listing(ports(request), request.match_info["slug"], viewer(request), after(request))
    return json_response({"comments": [present.comment(c) for c in shown]})


@routes.post("/api/articles/{slug}/comments")
async def add_comment(request: web.Request) -> web.Response:
    me = require_user(request)
    given = fields(envelope(await json_body(request), "comment"), required={"body": str})
    outcome = await comments.post(ports(request), comments.Comment(me, request.match_info["slug"], given["body"]))
    return answer(outcome, lambda shown: {"comment": present.comment(shown)})


@routes.delete("/api/articles/{slug}/comments/{id}")
async def delete_comment(request: web.Request) -> web.Response:
    me = require_user(request)
    comment_id = integer(request.match_info["id"])
    if comment_id is None:
        raise NotFound("comment")
    return no_content(await comments.delete(ports(request), me, request.match_info["slug"], comment_id))


@routes.get("/api/tags")
async def tags(request: web.Request) -> web.Response:
    return json_response({"tags": await articles.tags(ports(request), after(request))})
