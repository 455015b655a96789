"""What handlers share: the services in typed app state, and per-request helpers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from api.errors import ApiError, unauthorized
from api.security import Tokens
from api.writer import EventWriter
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


async def consistent_read(request: web.Request) -> None:
    """Wait (bounded) until the read models reflect the positions the reader asked for."""
    positions = positions_from(request)
    if positions:
        writer = services(request).writer
        await writer.progress.wait(positions, writer.wait_seconds)
