"""/v1: reports (any user) and the moderation queue and decisions (moderators only; anyone else: 403)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import present
from api.answers import answer, json_response
from api.bodies import fields, json_object
from api.errors import unprocessable
from api.paging import page_size
from api.requests import after, int_param, ports, require_user
from services import moderation

routes = web.RouteTableDef()
MODERATORS = web.AppKey("moderators", moderation.Moderators)

_TARGETS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "article": {"article_id": str},
    "comment": {"article_id": str, "comment_id": int},
    "user": {"username": str},
}
"""The members that name each kind of target, all required (and no other's)."""


def _given(
    body: dict[str, Any], required: dict[str, type | tuple[type, ...]], optional: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """The body's members: `target_kind`, the members naming a target of that kind, and these."""
    kind = body.get("target_kind")
    if not isinstance(kind, str) or kind not in _TARGETS:
        raise unprocessable("target_kind", "must be one of " + ", ".join(_TARGETS))
    return fields(body, required={"target_kind": str, **_TARGETS[kind], **required}, optional=optional)


def _target(given: dict[str, Any]) -> moderation.Target:
    return moderation.Target(
        given["target_kind"], given.get("article_id"), given.get("comment_id"), given.get("username")
    )


@routes.post("/v1/reports")
async def report(request: web.Request) -> web.Response:
    """Report an article, a comment or a user to the moderators, with a reason."""
    me = require_user(request)
    given = _given(await json_object(request), {"reason": str}, {"note": str})
    command = moderation.Report(me, _target(given), given["reason"], given.get("note") or "")
    outcome = await moderation.report(ports(request), command)
    return answer(outcome, lambda reported: {"report": present.report(reported)}, status=201)


@routes.get("/v1/moderation/queue")
async def queue(request: web.Request) -> web.Response:
    """The reported targets, open first and most reported first; `state` filters (moderators only)."""
    page = await moderation.queue(
        ports(request),
        request.app[MODERATORS],
        require_user(request),
        request.query.get("state"),
        page_size(request),
        int_param(request, "offset", 0),
        after(request),
    )
    return json_response({"items": [present.queue_item(i) for i in page.items], "total": page.total})


@routes.post("/v1/moderation/decisions")
async def decide(request: web.Request) -> web.Response:
    """Hide or restore an article or comment, suspend or unsuspend a user (moderators only)."""
    me = require_user(request)
    given = _given(await json_object(request), {"action": str, "reason": str}, {})
    command = moderation.Decide(me, _target(given), given["action"], given["reason"])
    outcome = await moderation.decide(ports(request), request.app[MODERATORS], command)
    return answer(outcome, lambda shown: {"item": present.queue_item(shown)})
