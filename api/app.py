"""The API application: middlewares, routes and the services behind them."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable, Collection

import structlog
from aiohttp import web

from api import (
    conduit,
    native,
    openapi,
    ops_page,
    probes,
    v1_accounts,
    v1_activity,
    v1_admin,
    v1_moderation,
    v1_social,
    v1_stream,
)
from api.cors import cors, mark_streamed
from api.errors import ApiError, json_error, refused
from api.limits import RateLimiter
from api.requests import PORTS
from api.unparsable import answer_in_json
from services import accounts
from services.errors import Refused, Unauthenticated, as_unavailable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 256 * 1024
log = structlog.get_logger("api")
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A request id a client may choose: a UUID, a hex trace id, a W3C traceparent. Anything else (8 KB of
text, spaces, quotes) would be copied into every log line and echoed back, so it is replaced."""


def new_request_id() -> str:
    """128 random bits in hex, as a UUID4's: an id to find a request's lines by, not a secret, so drawn without
    the system call of uuid4 (os.urandom), a tenth of the log line's cost."""
    return f"{random.getrandbits(128):032x}"


@web.middleware
async def canonical_log_line(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured line per request, with what a reader of the logs needs and nothing else."""
    started = time.perf_counter()
    sent = request.headers.get("X-Request-Id")
    request_id = sent if sent is not None and _CLIENT_REQUEST_ID.fullmatch(sent) else new_request_id()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        route = request.match_info.route.resource
        log.info(
            "request",
            method=request.method,
            route=route.canonical if route is not None else request.path,
            status=status,
            user_id=request.get("user_id"),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        structlog.contextvars.clear_contextvars()


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a JSON body naming the problem."""
    try:
        return await handler(request)
    except Refused as exc:
        return refused(exc)
    except ApiError as exc:
        return json_error(exc.status, exc.errors, exc.headers)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, {"body": [f"is larger than {MAX_BODY_BYTES} bytes"]})
    except web.HTTPMethodNotAllowed as exc:
        # RFC 9110: a 405 names the methods the resource has.
        return json_error(405, {"request": [exc.reason]}, {"Allow": ", ".join(sorted(exc.allowed_methods))})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, {"request": [exc.reason]})
    except Exception as exc:
        unavailable = as_unavailable(exc)
        if unavailable is not None:
            return refused(unavailable)
        log.exception("unhandled")
        return json_error(500, {"server": ["internal error"]})


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A token, when sent, must be valid for a user who exists; that user is the actor of every event.

    A request no route takes (404, 405) is answered as such whatever its token says.
    """
    header = request.headers.get("Authorization")
    if header and request.match_info.http_exception is None:
        scheme, _, token = header.partition(" ")
        if scheme not in ("Token", "Bearer") or not token.strip():
            raise Unauthenticated("send 'Authorization: Token <jwt>'")
        request["user_id"] = await accounts.authenticate(request.app[PORTS], token.strip())
    return await handler(request)


def build_app(
    *,
    cors_origins: Collection[str] = ("*",),
    limiter: RateLimiter | None = None,
    metrics: probes.HttpMetrics | None = None,
) -> web.Application:
    """The aiohttp application: middlewares and routes. The composition root puts the ports in app[PORTS].

    The rate limiter, when given, counts requests once they are authenticated; its storage opens and
    closes with the application. The request metrics, when given, see every answer as the client gets it.
    """
    answer_in_json()  # what aiohttp answers before any middleware runs
    limits = [limiter.middleware] if limiter is not None else []
    measured = [metrics.middleware] if metrics is not None else []
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[cors(cors_origins), *measured, canonical_log_line, json_errors, authenticate, *limits],
    )
    if limiter is not None:
        app.cleanup_ctx.append(limiter.lifecycle)
        app.on_response_prepare.append(limiter.mark)
    app.add_routes(conduit.routes)
    app.add_routes(native.routes)
    app.add_routes(v1_accounts.routes)
    app.add_routes(v1_social.routes)
    app.add_routes(v1_activity.routes)
    app.add_routes(v1_admin.routes)
    app.add_routes(v1_moderation.routes)
    app.add_routes(openapi.routes)
    app.add_routes(ops_page.routes)
    app.add_routes(v1_stream.routes)
    app.add_routes(probes.routes)
    app.on_response_prepare.append(mark_streamed)
    app.on_shutdown.append(v1_stream.end_streams)
    _with_trailing_slashes(app.router)
    return app


def _with_trailing_slashes(router: web.UrlDispatcher) -> None:
    """Every route answers with a trailing slash too (Angular's Conduit posts to /api/articles/).

    The same handler, not a redirect: a browser would have to repeat a CORS preflight for it.
    """
    for route in list(router.routes()):
        path = route.resource.canonical if route.resource is not None else ""
        if path and not path.endswith("/") and route.method != "HEAD":
            router.add_route(route.method, path + "/", route.handler)
