"""/ops: the operator page, static HTML, CSS and a script, served to anyone; its data is for admins only.

A browser cannot send `Authorization` when it navigates, and the API takes no cookies, so the page
holds no data and no secret. Its script signs in through `POST /api/users/login`, keeps the token in
the tab's sessionStorage (gone with the tab; never in a cookie, so no other site can make the browser
use it), and reads `GET /v1/admin/status` and posts retry and skip with it: those routes decide who
is an admin (services/admin.py), 401 without a valid token, 403 for anyone TRIBE_ADMINS does not name.

The page loads nothing from elsewhere and runs no inline script: its Content-Security-Policy allows
only this origin's script, style and fetches, and no framing.
"""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web

routes = web.RouteTableDef()
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def _file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _static(name: str, content_type: str) -> web.Response:
    return web.Response(body=_file(name), content_type=content_type, charset="utf-8", headers=SECURITY_HEADERS)


@routes.get("/ops")
async def page(_: web.Request) -> web.Response:
    return _static("ops.html", "text/html")


@routes.get("/ops/ops.js")
async def script(_: web.Request) -> web.Response:
    return _static("ops.js", "text/javascript")


@routes.get("/ops/ops.css")
async def style(_: web.Request) -> web.Response:
    return _static("ops.css", "text/css")
