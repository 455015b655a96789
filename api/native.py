"""POST /v1/events: raw events in volume (views, bumps, follows), all-or-nothing, answered 202."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from aiohttp import web

from api.answers import json_response
from api.bodies import json_body
from api.context import POSITION_HEADER, now_ms, require_user, services
from api.errors import ApiError, forbidden, not_found, unprocessable
from events.catalogue import (
    ArticleBumped,
    ArticleUnbumped,
    ArticleViewed,
    Event,
    UserFollowed,
    UserUnfollowed,
)
from events.ids import CLIENT_EVENT_ID, new_event_id

routes = web.RouteTableDef()

MAX_EVENTS = 1000
ACCEPTED: dict[str, type[Event]] = {
    cls.__name__: cls for cls in (ArticleViewed, ArticleBumped, ArticleUnbumped, UserFollowed, UserUnfollowed)
}
_SERVER_FIELDS = {"event_id", "actor_id", "occurred_at"}


@functools.cache
def _fields_of(cls: type[Event]) -> tuple[frozenset[str], tuple[tuple[str, type, bool], ...]]:
    """(names a client may send, (name, base type, optional) of each payload field), once per class."""
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


def _payload(index: int, cls: type[Event], raw: dict[str, Any]) -> dict[str, Any]:
    allowed, fields = _fields_of(cls)
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
        if base is str and len(value) > 200:
            raise unprocessable(f"events[{index}].{name}", "is longer than 200 characters")
        payload[name] = value
    return payload


def _event_id(index: int, raw: dict[str, Any]) -> str:
    given = raw.get("event_id")
    if given is None:
        return new_event_id()
    if not isinstance(given, str) or not CLIENT_EVENT_ID.match(given):
        raise unprocessable(f"events[{index}].event_id", "must be 8-64 characters of A-Z a-z 0-9 _ -")
    return given


async def _check_references(request: web.Request, events: list[Event]) -> None:
    """Every article and followee named must exist; the first event that fails is reported.

    One store read per collection for the whole batch, not one per event.
    """
    reads = services(request).reads
    article_ids = sorted(
        {e.article_id for e in events if isinstance(e, (ArticleViewed, ArticleBumped, ArticleUnbumped))}
    )
    followee_ids = sorted({e.followee_id for e in events if isinstance(e, (UserFollowed, UserUnfollowed))})
    live_articles: set[str] = set()
    if article_ids:
        found = await reads.store.get("articles", article_ids)
        live_articles = {doc_id for doc_id, doc in found.items() if not doc.body["deleted"]}
    users = await reads.users(followee_ids) if followee_ids else {}
    followed = sorted({e.followee_id for e in events if isinstance(e, UserFollowed)})
    blockers = await services(request).social.blockers_among(events[0].actor_id, followed) if followed else set()
    for index, event in enumerate(events):
        if isinstance(event, (ArticleViewed, ArticleBumped, ArticleUnbumped)):
            if event.article_id not in live_articles:
                raise not_found(f"events[{index}].article_id")
        elif isinstance(event, (UserFollowed, UserUnfollowed)):
            if event.followee_id == event.actor_id:
                raise unprocessable(f"events[{index}].followee_id", "you cannot follow yourself")
            if event.followee_id not in users:
                raise not_found(f"events[{index}].followee_id")
            if isinstance(event, UserFollowed) and event.followee_id in blockers:
                raise forbidden(f"events[{index}].followee_id", "is not allowed: you have been blocked")


@routes.post("/v1/events")
async def post_events(request: web.Request) -> web.Response:
    actor_id = require_user(request)
    body = await json_body(request)
    if not isinstance(body, list) or not body:
        raise unprocessable("body", "must be a non-empty JSON array of events")
    if len(body) > MAX_EVENTS:
        raise ApiError(413, "body", f"holds more than {MAX_EVENTS} events")
    occurred_at = now_ms()
    events: list[Event] = []
    for index, raw in enumerate(body):
        if not isinstance(raw, dict):
            raise unprocessable(f"events[{index}]", "must be an object")
        cls = ACCEPTED.get(raw.get("type"))  # type: ignore[arg-type]
        if cls is None:
            raise unprocessable(f"events[{index}].type", "must be one of " + ", ".join(sorted(ACCEPTED)))
        events.append(
            cls(event_id=_event_id(index, raw), actor_id=actor_id, occurred_at=occurred_at, **_payload(index, cls, raw))
        )
    await _check_references(request, events)
    positions = await services(request).writer.append(events)
    token = ",".join(p.token() for p in positions)
    return json_response(
        {"events": [{"event_id": e.event_id, "position": p.token()} for e, p in zip(events, positions)]},
        status=202,
        headers={POSITION_HEADER: token},
    )
