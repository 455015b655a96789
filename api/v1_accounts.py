"""/v1: the account's sessions."""

from __future__ import annotations

from aiohttp import web

from api.answers import no_content
from api.requests import ports, require_user
from services import accounts

routes = web.RouteTableDef()


@routes.post("/v1/logout")
async def logout(request: web.Request) -> web.Response:
    """End every session of the user: every token issued to them so far is refused from now on."""
    outcome = await accounts.logout(ports(request), require_user(request))
    return no_content(outcome)
