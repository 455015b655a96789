"""Cross-origin resource sharing: browser front ends served from their own origin may call the API.

Tokens travel in the `Authorization` header, never in cookies, so no response allows
credentials. When every origin is allowed (`"*"`), responses say `Access-Control-Allow-Origin: *`
on every request under /api and /v1, whether or not it named an origin: the response is then
the same for every origin, so a shared cache may store it once and needs no `Vary: Origin`.
A restricted list instead echoes the request's origin when it is listed, and every response
says `Vary: Origin`, because what it carries now depends on who asked.

A listed origin's responses, errors included, name the headers a script may read
(`Access-Control-Expose-Headers`). An origin not listed gets no CORS header at all, so the
browser blocks the response; its preflights are refused with 403.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import MatchInfoError
from multidict import CIMultiDict

from api.errors import json_error

COVERED_PREFIXES = ("/api", "/v1")
_MARK = "cors_mark"
"""Where the middleware leaves a request's marking for `mark_streamed`."""
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Tribe-After",
    "X-Request-Id",
    # Sent by EventSource when it reconnects to /v1/stream.
    "Last-Event-ID",
    # Safelisted by name, but a preflight still asks for them when their value is not safelisted.
    "Accept",
    "Accept-Language",
    "Content-Language",
)
EXPOSED_HEADERS = (
    "X-Tribe-Position", "X-Tribe-Read-Model", "X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy",
)
# Chromium caches a preflight for at most two hours; a longer Max-Age buys nothing there.
MAX_AGE_SECONDS = 7200


def cors(allowed_origins: Collection[str]) -> Middleware:
    """A middleware answering preflights and marking responses for the origins allowed.

    Put it first in the middleware list: the inner ones turn every failure into a JSON error
    response, which then carries its headers too (a browser hides from the script any
    response without them). A response its handler sends itself (a stream, whose headers leave
    before the handler returns) is marked by `mark_streamed`, on the application's
    on_response_prepare signal.
    """
    any_origin = "*" in allowed_origins
    listed = frozenset(origin.rstrip("/") for origin in allowed_origins)

    def allowed(origin: str | None) -> str | None:
        """The value of Access-Control-Allow-Origin for a request from `origin`, if it is allowed."""
        if any_origin:
            return "*"
        return origin if origin in listed else None

    def mark(headers: CIMultiDict[str], origin: str | None) -> None:
        if not any_origin:
            vary = headers.get("Vary")
            if vary is None:
                headers["Vary"] = "Origin"
            elif "origin" not in {v.strip().lower() for v in vary.split(",")}:
                headers["Vary"] = f"{vary}, Origin"
        if origin is not None:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(COVERED_PREFIXES):
            return await handler(request)
        origin = allowed(request.headers.get("Origin"))
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = await preflight(request, origin)
        else:
            request[_MARK] = functools.partial(mark, origin=origin)
            response = await handler(request)
        mark(response.headers, origin)
        return response

    return middleware


async def mark_streamed(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Mark a response as its headers leave (marking is idempotent: the middleware marks the others again)."""
    marker = request.get(_MARK)
    if marker is not None:
        marker(response.headers)


async def preflight(request: web.Request, origin: str | None) -> web.Response:
    """204 when the origin, the method at this path and every requested header are allowed.

    A refusal is the JSON error the request itself would get (404 for a path without a route,
    405 for a method the path lacks), or 403 for an origin or a header not allowed.
    """
    if origin is None:
        return json_error(403, {"origin": [f"{request.headers.get('Origin')} may not call this API"]})
    method = request.headers["Access-Control-Request-Method"]
    match = await request.app.router.resolve(request.clone(method=method))
    if isinstance(match, MatchInfoError):
        return json_error(match.http_exception.status, {"request": [match.http_exception.reason]})
    asked = request.headers.get("Access-Control-Request-Headers", "").split(",")
    refused = sorted({name.strip().lower() for name in asked} - {name.lower() for name in ALLOWED_HEADERS} - {""})
    if refused:
        problem = f"{', '.join(refused)} not allowed; send only {', '.join(ALLOWED_HEADERS)}"
        return json_error(403, {"headers": [problem]})
    resource = match.route.resource
    methods = sorted({route.method for route in resource} if resource is not None else {method})
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        },
    )
