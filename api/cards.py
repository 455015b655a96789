"""Article cards and cursors for the /v1 API."""

from __future__ import annotations

import base64
from typing import Any, Sequence

import orjson
from aiohttp import web

from api.context import services, viewer
from api.errors import ApiError
from api.present import iso

Body = dict[str, Any]


def encode_cursor(sort_values: tuple[Any, ...] | None) -> str | None:
    if sort_values is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(sort_values))).decode().rstrip("=")


# Every cursor this API gives out holds the page's last sort value and document id.
CURSOR_VALUES = 2


def decode_cursor(request: web.Request) -> tuple[Any, ...] | None:
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError(400, "cursor", "is not a cursor this API gave out") from None
    if (
        not isinstance(values, list)
        or len(values) != CURSOR_VALUES
        or not all(isinstance(v, (str, int, float)) for v in values)
    ):
        raise ApiError(400, "cursor", "is not a cursor this API gave out")
    return tuple(values)


def page_size(request: web.Request, default: int = 20, most: int = 100) -> int:
    try:
        size = int(request.query.get("limit", str(default)))
    except ValueError:
        raise ApiError(400, "limit", "must be an integer") from None
    if not 1 <= size <= most:
        raise ApiError(400, "limit", f"must be 1-{most}")
    return size


def author(user: Body) -> Body:
    return {
        "id": user["user_id"],
        "username": user["username"],
        "display_name": user.get("display_name") or user["username"],
        "image": user["image"],
    }


async def present_cards(request: web.Request, docs: Sequence[Body]) -> list[Body]:
    """Cards as clients show them; authors and tribes come in one batched get each per page."""
    reads = services(request)
    users = await reads.reads.users(sorted({d["author_id"] for d in docs}))
    tribes = await reads.social.tribes(sorted({d["tribe_id"] for d in docs if d.get("tribe_id")}))
    me = viewer(request)
    cards = []
    for d in docs:
        if d["author_id"] not in users:
            continue
        tribe = tribes.get(d.get("tribe_id") or "")
        cards.append(
            {
                "id": d["article_id"],
                "slug": d["slug"],
                "title": d["title"],
                "description": d["description"],
                "tags": d["tags"],
                "tribe": {"id": tribe["tribe_id"], "name": tribe["name"]} if tribe else None,
                "author": author(users[d["author_id"]]),
                "counts": {"views": d["views"], "comments": d["comments_count"], "bumps": d["favorites_count"]},
                "bumped": me is not None and me in d["favorited_by"],
                "rank": d["rank"],
                "created_at": iso(d["created_at"]),
                "updated_at": iso(d["updated_at"]),
            }
        )
    return cards
