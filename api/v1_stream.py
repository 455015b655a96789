"""/v1/stream: live updates as Server-Sent Events, opened with a ticket (services/stream.py says how it works)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import structlog
from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from api.answers import json_response
from api.present import iso
from api.requests import ports, require_user
from services import stream
from services.errors import Unauthenticated, as_unavailable

log = structlog.get_logger("stream")
routes = web.RouteTableDef()
STREAMS = web.AppKey("streams", stream.Streams)
_GONE_CHECK = 0.5
"""Seconds between looks at whether a stream's client has gone (the server learns it only when it looks)."""


@routes.post("/v1/stream/tickets")
async def tickets(request: web.Request) -> web.Response:
    issued = await stream.ticket(ports(request), request.app[STREAMS], require_user(request))
    return json_response({"ticket": issued.ticket, "expires_at": iso(issued.expires_at)}, status=201)


@routes.get("/v1/stream")
async def live(request: web.Request) -> web.StreamResponse:
    """The ticket comes in ?ticket= (EventSource sends no headers); where to resume in Last-Event-ID, which
    EventSource sends when it reconnects, or ?last_event_id= (a new EventSource cannot set a header)."""
    ticket = request.query.get("ticket")
    if not ticket:
        raise Unauthenticated("missing; send ?ticket= from POST /v1/stream/tickets", "ticket")
    resume = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    opened, cursor = await stream.open_stream(ports(request), request.app[STREAMS], ticket, resume)
    request["user_id"] = opened.audience.user_id
    try:
        async with sse_response(request) as sse:
            forwarding = asyncio.create_task(_forward(opened, cursor, sse))
            watching = asyncio.create_task(_until_gone(request))
            await asyncio.wait((forwarding, watching), return_when=asyncio.FIRST_COMPLETED)
            for task in (forwarding, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await opened.close()
    return sse


async def _forward(opened: stream.Stream, cursor: stream.Cursor, sse: EventSourceResponse) -> None:
    """Send the stream's messages until it ends, the client goes, or the log or the store cannot be read. The
    answer has begun, so no error status can be sent: the stream ends, and its client resumes from its last id."""
    try:
        async for event_id, message in opened.messages(cursor):
            await sse.send(orjson.dumps(message.data).decode(), id=event_id, event=message.kind)
    except ConnectionResetError:
        return
    except Exception as exc:
        if as_unavailable(exc) is None:
            log.exception("stream_failed")
        else:
            log.warning("stream_ended", error=f"{type(exc).__name__}: {exc}")


async def _until_gone(request: web.Request) -> None:
    """Returns once the client has closed the connection. aiohttp tells a handler only when it writes (and
    `tribe serve` does not cancel handlers), so a quiet stream looks: its slot under the bound is free soon after."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(_GONE_CHECK)


async def end_streams(app: web.Application) -> None:
    """On shutdown, end every open stream at once (their clients resume from their last id): a graceful stop
    would otherwise wait for streams that never end."""
    if STREAMS in app:
        await app[STREAMS].hub.close()
