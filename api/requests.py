"""What handlers read from a request: the ports, who is asking, the positions they want to see."""

from __future__ import annotations

import re

from aiohttp import web

from api.errors import ApiError
from events.log import Position
from services.errors import Unauthenticated
from services.ports import Ports

PORTS = web.AppKey("ports", Ports)
AFTER_HEADER = "X-Tribe-After"
_POSITION = r"[a-z][a-z0-9.]*:(0|[1-9][0-9]{0,17}):(0|[1-9][0-9]{0,17})"
AFTER_PATTERN = rf"^({_POSITION}(,{_POSITION})*)?$"
"""X-Tribe-After (or ?after=): positions topic:partition:offset, comma-separated, as X-Tribe-Position gives them.
The OpenAPI document states this pattern."""
_AFTER = re.compile(AFTER_PATTERN)
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
"""An integer as a URL writes one: ASCII digits alone (Python's int() also reads `1_0`, ` 1 `, other digits)."""


def ports(request: web.Request) -> Ports:
    return request.app[PORTS]


def viewer(request: web.Request) -> str | None:
    """The authenticated user's id, if the request carried a valid token (checked by middleware)."""
    user_id: str | None = request.get("user_id")
    return user_id


def require_user(request: web.Request) -> str:
    user_id = viewer(request)
    if user_id is None:
        raise Unauthenticated("missing; send 'Authorization: Token <jwt>'")
    return user_id


def token(request: web.Request) -> str:
    """The token the (authenticated) request carried."""
    return request.headers.get("Authorization", "").split(" ", 1)[1].strip()


def after(request: web.Request) -> list[Position]:
    """Positions a reader asked to see (header X-Tribe-After or ?after=), for read-your-writes."""
    raw = request.headers.get(AFTER_HEADER) or request.query.get("after") or ""
    if _AFTER.fullmatch(raw) is None:
        raise ApiError(400, "after", "must be position tokens topic:partition:offset, comma-separated")
    return [Position.parse(part) for part in raw.split(",") if part]


def integer(raw: str) -> int | None:
    """The integer `raw` writes in ASCII digits, one way only (no leading zero, no `-0`), else None.

    However large: a caller's range check names its range. Past Python's 4,300 digits, None.
    """
    if _INTEGER.fullmatch(raw) is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = integer(raw)
    if value is None:
        raise ApiError(400, name, "must be an integer")
    return value
