"""/v1/admin: how the views fare and their dead letters, for the admins TRIBE_ADMINS names (anyone else: 403)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.answers import json_response
from api.requests import require_user
from services import admin

routes = web.RouteTableDef()
ADMIN = web.AppKey("admin", admin.Admin)


def _letter(letter: admin.DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "projection": letter.projection,
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key,
        "state": letter.state,
        "cause": letter.cause,
        "attempts": letter.attempts,
        "first_failed_at": letter.first_failed_at,
        "last_failed_at": letter.last_failed_at,
    }


def _retried(retried: admin.Retried) -> dict[str, Any]:
    return {
        "applied": [x.id for x in retried.applied],
        "failed": None if retried.failed is None else _letter(retried.failed),
        "skipped": None if retried.skipped is None else retried.skipped.id,
        "left_behind": list(retried.left_behind),
    }


def _overview(overview: admin.Overview) -> dict[str, Any]:
    return {
        "views": [
            {
                "view": view.view,
                "live_version": view.live_version,
                "versions": [
                    {**version.as_json(), "throughput": overview.throughput.get((view.view, version.version))}
                    for version in view.versions
                ],
            }
            for view in overview.views
        ],
        "dead_letters": [_letter(x) for x in overview.dead_letters],
    }


@routes.get("/v1/admin/status")
async def status(request: web.Request) -> web.Response:
    """What the operator page (/ops) shows: `tribe replay status`, throughput and dead letters."""
    return json_response(_overview(await admin.overview(request.app[ADMIN], require_user(request))))


@routes.get("/v1/admin/dead-letters")
async def dead_letters(request: web.Request) -> web.Response:
    letters = await admin.dead_letters(request.app[ADMIN], require_user(request))
    return json_response({"dead_letters": [_letter(x) for x in letters]})


@routes.get("/v1/admin/dead-letters/{letter_id}")
async def dead_letter(request: web.Request) -> web.Response:
    shown = await admin.dead_letter(request.app[ADMIN], require_user(request), request.match_info["letter_id"])
    return json_response(
        {
            "dead_letter": _letter(shown.letter),
            "sequence": [x.id for x in shown.sequence],
            "event": shown.event,
            "undecodable": shown.undecodable,
        }
    )


@routes.post("/v1/admin/dead-letters/{letter_id}/retry")
async def retry(request: web.Request) -> web.Response:
    retried = await admin.retry(request.app[ADMIN], require_user(request), request.match_info["letter_id"])
    return json_response(_retried(retried))


@routes.post("/v1/admin/dead-letters/{letter_id}/skip")
async def skip(request: web.Request) -> web.Response:
    retried = await admin.skip(request.app[ADMIN], require_user(request), request.match_info["letter_id"])
    return json_response(_retried(retried))
