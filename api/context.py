"""What handlers share: the services in typed app state, and per-request helpers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from typing import Any, Callable

from api.answers import json_response
from api.errors import ApiError, not_found, unauthorized
from api.security import Tokens
from api.writer import EventWriter, Written
from events.catalogue import Event
from events.ids import new_event_id
from events.log import Position
from projections.queries import ReadModels, SocialReads

POSITION_HEADER = "X-Tribe-Position"
AFTER_HEADER = "X-Tribe-After"


@dataclass(frozen=True)
class Services:
    writer: EventWriter
    reads: ReadModels
    social: SocialReads
    tokens: Tokens


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def now_ms() -> int:
    return int(time.time() * 1000)


def viewer(request: web.Request) -> str | None:
    """The authenticated user's id, if the request carried a valid token (checked by middleware)."""
    return request.get("user_id")


def require_user(request: web.Request) -> str:
    user_id = viewer(request)
    if user_id is None:
        raise unauthorized("missing; send 'Authorization: Token <jwt>'")
    return user_id


def positions_from(request: web.Request) -> list[Position]:
    """Positions a reader asked to see (header X-Tribe-After or ?after=), for read-your-writes."""
    raw = request.headers.get(AFTER_HEADER) or request.query.get("after")
    if not raw:
        return []
    try:
        return [Position.parse(token) for token in raw.split(",") if token]
    except ValueError:
        raise ApiError(400, "after", "must be position tokens topic:partition:offset, comma-separated") from None


class Pending(Exception):
    """The write is durable but its projections have not caught up within the wait: answer 202."""

    def __init__(self, written: Written) -> None:
        super().__init__("projections behind")
        self.written = written


def event_fields(request: web.Request) -> dict[str, Any]:
    """The envelope of an event the authenticated user causes now."""
    return {"event_id": new_event_id(), "actor_id": require_user(request), "occurred_at": now_ms()}


async def write(request: web.Request, *events: Event) -> Written:
    """Append the events; return once the read models reflect them, or raise Pending."""
    written = await services(request).writer.write(events)
    if not written.visible:
        raise Pending(written)
    return written


async def toggle(request: web.Request, current: bool, wanted: bool, event: Callable[[], Event]) -> Written | None:
    """Write the event only if the state is not already the wanted one (repeating is not an error)."""
    return None if current == wanted else await write(request, event())


def respond(body: Any, written: Written | None = None, status: int = 200) -> web.Response:
    """A JSON answer; after a write it carries the position token for read-your-writes."""
    headers = {POSITION_HEADER: written.token()} if written is not None else None
    return json_response(body, status=status, headers=headers)


def accepted(written: Written) -> web.Response:
    return json_response(
        {"status": "accepted", "positions": [p.token() for p in written.positions]},
        status=202,
        headers={POSITION_HEADER: written.token()},
    )


async def user_named(request: web.Request, what: str) -> dict[str, Any]:
    """The user the path's {username} names, or 404 naming `what`."""
    user = await services(request).reads.user_by("username", request.match_info["username"])
    if user is None:
        raise not_found(what)
    return user


async def consistent_read(request: web.Request) -> None:
    """Wait (bounded) until the read models reflect the positions the reader asked for."""
    positions = positions_from(request)
    if positions:
        writer = services(request).writer
        await writer.progress.wait(positions, writer.wait_seconds)
