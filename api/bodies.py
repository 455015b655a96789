"""Request bodies: parsed strictly, so nothing ill-formed reaches an event."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from api.errors import ApiError, unprocessable


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ApiError(400, "body", "is empty; a JSON document was expected")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "body", f"is not valid JSON ({exc})") from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """A body that must be a JSON object (the /v1 writes' bodies)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise unprocessable("body", "must be a JSON object")
    return body


def envelope(body: Any, name: str) -> dict[str, Any]:
    """The object under the body's single top-level key `name` (Conduit's {"user": {...}})."""
    if not isinstance(body, dict):
        raise unprocessable("body", f"must be an object with a {name!r} key")
    unknown = set(body) - {name}
    if unknown:
        raise unprocessable(sorted(unknown)[0], "is not a known field")
    inner = body.get(name)
    if not isinstance(inner, dict):
        raise unprocessable(name, "must be an object")
    return inner


def fields(
    obj: dict[str, Any],
    *,
    required: dict[str, type | tuple[type, ...]],
    optional: dict[str, type | tuple[type, ...]] | None = None,
    echoed: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check presence and types; reject unknown fields. Returns the given fields.

    `echoed` names read-only fields a client may send back unchanged with what it edits
    (a Conduit front end returns the whole article): they are dropped, not refused. Any other
    unknown field is refused, since it may be a typo of a writable one.
    """
    optional = optional or {}
    obj = {name: value for name, value in obj.items() if name not in echoed}
    for name in obj:
        if name not in required and name not in optional:
            raise unprocessable(name, "is not a known field")
    for name in required:
        if name not in obj or obj[name] is None:
            raise unprocessable(name, "can't be blank")
    for name, value in obj.items():
        kind = required.get(name) or optional[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is None and name in optional:
            continue
        if int in kinds and isinstance(value, float) and value.is_integer():
            # JSON has one kind of number: 410.0 is the integer 410, as JSON Schema reads it.
            obj[name] = value = int(value)
        if isinstance(value, bool) and bool not in kinds:
            raise unprocessable(name, "has the wrong type")
        if not isinstance(value, kind):
            raise unprocessable(name, "has the wrong type")
    return obj
