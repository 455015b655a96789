"""Every error leaves the API as JSON: {"errors": {"<what>": ["<problem>", ...]}}."""

from __future__ import annotations

from aiohttp import web

from api.answers import json_response


class ApiError(Exception):
    def __init__(self, status: int, what: str, problem: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{what}: {problem}")
        self.status = status
        self.errors = {what: [problem]}
        self.headers = headers or {}


def unprocessable(what: str, problem: str) -> ApiError:
    return ApiError(422, what, problem)


def not_found(what: str) -> ApiError:
    return ApiError(404, what, "not found")


def forbidden(what: str, problem: str = "belongs to someone else") -> ApiError:
    return ApiError(403, what, problem)


def unauthorized(problem: str) -> ApiError:
    return ApiError(401, "token", problem, {"WWW-Authenticate": "Token"})


def json_error(status: int, errors: dict[str, list[str]], headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"errors": errors}, status=status, headers=headers)
