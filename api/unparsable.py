"""A request aiohttp cannot parse is answered in JSON, as every other error is.

aiohttp answers such a request itself (a request line or a header longer than 8190 bytes, a
header name with a space, a method that is not a token), before the application or any
middleware sees it, with a plain-text body. It offers no hook for that answer
(aio-libs/aiohttp#3287), so `answer_in_json` replaces the method that builds it, once per process:
the status, the log line and the closed connection stay aiohttp's; the body becomes
{"errors": {"request": [...]}}. Fuzzing /v1 with a long query string found the plain-text 400.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from api.errors import json_error

_plain_answer = RequestHandler.handle_error


def _problem(status: int, exc: BaseException | None) -> str:
    if status >= 500:
        return "the server could not answer this request"
    if isinstance(exc, LineTooLong):  # args: what was read, the parser's limit, the size read
        return f"the request line or a header is longer than {exc.args[1]} bytes"
    if isinstance(exc, BadHttpMessage):
        return "this is not an HTTP request the server can read"
    return "the request could not be read"


def _json_answer(
    handler: RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    _plain_answer(handler, request, status, exc, message)  # logs it, and raises if an answer was under way
    answer = json_error(status, {"request": [_problem(status, exc)]})
    answer.force_close()
    return answer


def answer_in_json() -> None:
    """Have every aiohttp server in this process answer the requests it cannot parse in JSON."""
    RequestHandler.handle_error = _json_answer  # type: ignore[method-assign,assignment]
