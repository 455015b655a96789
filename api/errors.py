"""Every error leaves the API as JSON: {"errors": {"<what>": ["<problem>", ...]}}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.answers import json_response
from services.errors import (
    BadQuery,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    TooLarge,
    TooMany,
    Unauthenticated,
    Unavailable,
)

_STATUS: dict[type[Refused], int] = {
    BadQuery: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    TooMany: 429,
    Unavailable: 503,
}


class ApiError(Exception):
    """A request the edge refuses before any service sees it (unparsable body, wrong field type)."""

    def __init__(self, status: int, what: str, problem: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{what}: {problem}")
        self.status = status
        self.errors = {what: [problem]}
        self.headers = headers or {}


def unprocessable(what: str, problem: str) -> ApiError:
    return ApiError(422, what, problem)


def json_error(
    status: int, errors: dict[str, list[str]], headers: dict[str, str] | None = None, **more: Any
) -> web.Response:
    return json_response({"errors": errors, **more}, status=status, headers=headers)


def refused(exc: Refused) -> web.Response:
    """A service's refusal as its status, with the headers that status calls for.

    An Unavailable write that the log took in part (Kafka acknowledges events one by one) lists
    every event: `{"event_id", "durable": true, "position"}` or `{"event_id", "durable": false}`.
    """
    headers = {}
    more: dict[str, Any] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Token"
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        if exc.durable:
            more["events"] = [
                {"event_id": e, "durable": True, "position": p.token()} if p else {"event_id": e, "durable": False}
                for e, p in exc.durable
            ]
    return json_error(_STATUS[type(exc)], {exc.what: [exc.problem]}, headers, **more)
