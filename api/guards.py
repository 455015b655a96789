"""Checks made before anything is appended: blocks and mentions."""

from __future__ import annotations

import re
from typing import Sequence

from aiohttp import web

from api.context import services
from api.errors import forbidden

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]{1,64})")


async def not_blocked_by(request: web.Request, actor_id: str, others: Sequence[str], what: str) -> None:
    """403 if any of `others` has blocked the actor: a blocked user cannot follow, comment on or mention them."""
    others = [o for o in others if o != actor_id]
    if others and await services(request).social.blockers_among(actor_id, others):
        raise forbidden(what, "is not allowed: you have been blocked")


async def mentioned_users(request: web.Request, text: str) -> list[str]:
    """Ids of the existing users a text @mentions, in order of first mention."""
    reads = services(request).reads
    found: list[str] = []
    for name in dict.fromkeys(m.group(1).rstrip(".") for m in MENTION.finditer(text)):
        user_id = await reads.holder("username", name)
        if user_id is not None and user_id not in found:
            found.append(user_id)
    return found
