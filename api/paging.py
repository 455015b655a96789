"""Page sizes and cursors as the /v1 API reads and writes them."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from aiohttp import web

from api.errors import ApiError
from api.requests import int_param

_LONG = range(-(2**63), 2**63)
"""The values a sort field of type long holds (Elasticsearch's and SQLite's 64-bit integers)."""


def encode_cursor(sort_values: tuple[Any, ...] | None) -> str | None:
    if sort_values is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(sort_values))).decode().rstrip("=")


def decode_cursor(request: web.Request) -> tuple[Any, ...] | None:
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError(400, "cursor", "is not a cursor this API gave out") from None
    # Every cursor this API gives out holds the page's last sort value (a long: members, rank) and document id.
    match values:
        case [int(sort_value), str(doc_id)] if not isinstance(sort_value, bool) and sort_value in _LONG:
            return (sort_value, doc_id)
    raise ApiError(400, "cursor", "is not a cursor this API gave out")


def page_size(request: web.Request, default: int = 20, most: int = 100) -> int:
    size = int_param(request, "limit", default)
    if not 1 <= size <= most:
        raise ApiError(400, "limit", f"must be 1-{most}")
    return size
