"""POST /v1/events: raw events in volume (views, bumps, follows), all-or-nothing, answered 202."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from aiohttp import web

from api.answers import POSITION_HEADER, json_response
from api.bodies import json_body
from api.errors import unprocessable
from api.requests import ports, require_user
from events.catalogue import Event
from events.ids import CLIENT_EVENT_ID
from services import activity

routes = web.RouteTableDef()

_SERVER_FIELDS = {"event_id", "actor_id", "occurred_at"}


def _fields_of(cls: type[Event]) -> tuple[frozenset[str], tuple[tuple[str, type, bool], ...]]:
    """(names a client may send, (name, base type, optional) of each payload field)."""
    hints = typing.get_type_hints(cls)
    allowed = frozenset({f.name for f in dataclasses.fields(cls)} - _SERVER_FIELDS) | {"type", "event_id"}
    fields = []
    for f in dataclasses.fields(cls):
        if f.name in _SERVER_FIELDS:
            continue
        hint = hints[f.name]
        optional = type(None) in typing.get_args(hint)
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
        fields.append((f.name, base, optional))
    return allowed, tuple(fields)


_FIELDS = {name: _fields_of(cls) for name, cls in activity.ACCEPTED.items()}


def _payload(index: int, cls: type[Event], raw: dict[str, Any]) -> dict[str, Any]:
    allowed, fields = _FIELDS[cls.__name__]
    for name in raw:
        if name not in allowed:
            raise unprocessable(f"events[{index}].{name}", "is not a field of " + cls.__name__)
    payload: dict[str, Any] = {}
    for name, base, optional in fields:
        if name not in raw or raw[name] is None:
            if optional:
                continue
            raise unprocessable(f"events[{index}].{name}", "is required")
        value = raw[name]
        if not isinstance(value, base) or isinstance(value, bool) or (base is str and not value):
            raise unprocessable(f"events[{index}].{name}", f"must be a non-empty {base.__name__}")
        if isinstance(value, str) and len(value) > 200:
            raise unprocessable(f"events[{index}].{name}", "is longer than 200 characters")
        payload[name] = value
    return payload


def _event_id(index: int, raw: dict[str, Any]) -> str | None:
    given = raw.get("event_id")
    if given is None:
        return None
    if not isinstance(given, str) or not CLIENT_EVENT_ID.fullmatch(given):
        raise unprocessable(f"events[{index}].event_id", "must be 8-64 characters of A-Z a-z 0-9 _ -")
    return given


@routes.post("/v1/events")
async def post_events(request: web.Request) -> web.Response:
    actor_id = require_user(request)
    body = await json_body(request)
    if not isinstance(body, list):
        raise unprocessable("body", "must be a non-empty JSON array of events")
    sent = []
    for index, raw in enumerate(body):
        if not isinstance(raw, dict):
            raise unprocessable(f"events[{index}]", "must be an object")
        kind = raw.get("type")
        cls = activity.ACCEPTED.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise unprocessable(f"events[{index}].type", "must be one of " + ", ".join(sorted(activity.ACCEPTED)))
        sent.append(activity.ClientEvent(cls, _event_id(index, raw), _payload(index, cls, raw)))
    recorded = await activity.record(ports(request), actor_id, sent)
    positions = recorded.written.positions
    return json_response(
        {
            "events": [
                {"event_id": e, "position": p.token()} for e, p in zip(recorded.event_ids, positions, strict=True)
            ]
        },
        status=202,
        headers={POSITION_HEADER: recorded.written.token()},
    )
