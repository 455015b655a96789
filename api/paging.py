"""Page sizes and cursors as the /v1 API reads and writes them."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.errors import ApiError
from api.requests import int_param

CURSOR_PATTERN = r"^((0|-?[1-9][0-9]{0,17})\.[0-9A-Za-z]{1,64})?$"
"""A cursor is `<sort value>.<document id>`: the last sort value of the page before (a member count or a
rank, an integer of at most 18 digits, far beyond either) and its document's id, the tie-break. Empty or
absent, the first page. The OpenAPI document states this pattern, so every cursor it admits is one the
server takes: a cursor names a place in the order, whether or not a page ever ended there."""
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(sort_values: tuple[Any, ...] | None) -> str | None:
    if sort_values is None:
        return None
    sort_value, doc_id = sort_values
    return f"{sort_value}.{doc_id}"


def decode_cursor(request: web.Request) -> tuple[Any, ...] | None:
    raw = request.query.get("cursor", "")
    if _CURSOR.fullmatch(raw) is None:
        raise ApiError(400, "cursor", "is not <sort value>.<id> as next_cursor gives them")
    if not raw:
        return None
    sort_value, _, doc_id = raw.partition(".")
    return (int(sort_value), doc_id)


def page_size(request: web.Request, default: int = 20, most: int = 100) -> int:
    size = int_param(request, "limit", default)
    if not 1 <= size <= most:
        raise ApiError(400, "limit", f"must be 1-{most}")
    return size
