"""Rate limits: each client has a budget of requests per window, counted with the `limits` library.

| budget        | counts                                        | per                                          |
|---------------|-----------------------------------------------|----------------------------------------------|
| `reads`       | GET and HEAD requests                         | user; client IP address when anonymous       |
| `writes`      | every other request (POST, PUT, DELETE)       | user; client IP address when anonymous       |
| `login-ip`    | logins and registrations (`POST /api/users`,  | client IP address                            |
|               | `POST /api/users/login`)                      |                                              |
| `login-email` | the same requests                             | the e-mail they name                         |

A login or a registration counts against the two login budgets only, before any password is
hashed or verified: a request over a budget costs no hash. An IPv6 client is counted by its
/64 network, which one host usually holds whole.

Windows are fixed: a client's window opens at its first request and its whole budget comes
back when the window ends. Every answer that went through the limiter names its budgets and
where the client stands (draft-ietf-httpapi-ratelimit-headers):

    RateLimit-Policy: "reads";q=1200;w=60
    RateLimit: "reads";r=1187;t=42

`q` requests per `w` seconds, `r` left, `t` seconds until the window ends. A request over a
budget is answered 429 with those headers and `Retry-After` (the `t` of the budget it
exceeded), and goes no further.

The counters live where the storage URL says: `memory://` (this process), `redis://HOST:PORT`
(every API process sharing one budget per client). The storage is opened in the application's
cleanup context. When it fails (Redis unreachable), requests go through uncounted and each
failure is logged: the limits protect the service, they must not stop it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import coredis
import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from api.errors import json_error
from api.requests import viewer

REDIS_SCHEMES = ("redis", "rediss")
STORAGE_SCHEMES = ("memory", *REDIS_SCHEMES)
_LOGIN_PATHS = ("/api/users", "/api/users/login")
_READ_METHODS = ("GET", "HEAD")
log = structlog.get_logger("api.limits")


@dataclass(frozen=True, slots=True)
class Budgets:
    """The limits, each in the `limits` notation ("120/minute", "10 per second")."""

    reads: str
    writes: str
    login_ip: str
    login_email: str


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a client stands in one budget after a request."""

    name: str
    limit: RateLimitItem
    allowed: bool
    remaining: int
    reset_in: int

    def policy(self) -> str:
        return f'"{self.name}";q={self.limit.amount};w={self.limit.get_expiry()}'

    def state(self) -> str:
        return f'"{self.name}";r={self.remaining};t={self.reset_in}'


@contextlib.asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """The `limits` storage the URL names, open for the block.

    The scheme picks the backend (`memory://`, `redis://`); a Redis storage gets a connection
    pool of our own, so that it is closed after the block.
    """
    options: dict[str, Any] = {}
    if urlsplit(url).scheme in REDIS_SCHEMES:
        options["connection_pool"] = coredis.ConnectionPool.from_url(url)
    storage = storage_from_string(f"async+{url}", wrap_exceptions=True, **options)
    assert isinstance(storage, Storage), "an async+ URL names an asyncio storage"
    try:
        if not await storage.check():
            log.warning("rate limit storage unreachable: requests go through uncounted until it answers", url=url)
        yield storage
    finally:
        if "connection_pool" in options:
            options["connection_pool"].disconnect()


class RateLimiter:
    """The budgets of every client, as an aiohttp middleware over the storage the URL names.

    Put the middleware after authentication (it counts a signed-in user's requests by user) and
    `lifecycle` in the application's cleanup context.
    """

    def __init__(self, budgets: Budgets, storage_url: str) -> None:
        self._reads = parse(budgets.reads)
        self._writes = parse(budgets.writes)
        self._login_ip = parse(budgets.login_ip)
        self._login_email = parse(budgets.login_email)
        self._storage_url = storage_url
        self._limiter: FixedWindowRateLimiter | None = None

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        async with open_storage(self._storage_url) as storage:
            self._limiter = FixedWindowRateLimiter(storage)
            yield
            self._limiter = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" or self._limiter is None:
            return await handler(request)
        try:
            standings = [await self._count(self._limiter, *budget) for budget in await self._budgets(request)]
        except StorageError as exc:
            log.warning("rate limit storage failed: request not counted", error=str(exc.storage_error))
            return await handler(request)
        headers = {
            "RateLimit-Policy": ", ".join(s.policy() for s in standings),
            "RateLimit": ", ".join(s.state() for s in standings),
        }
        exceeded = [s for s in standings if not s.allowed]
        if exceeded:
            headers["Retry-After"] = str(max(1, *(s.reset_in for s in exceeded)))
            problems = [
                f"over the {s.name} budget of {s.limit.amount} requests per {s.limit.get_expiry()} s; "
                f"retry in {s.reset_in} s"
                for s in exceeded
            ]
            return json_error(429, {"rate": problems}, headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    async def _budgets(self, request: web.Request) -> list[tuple[str, RateLimitItem, str]]:
        """(name, limit, whose) of every budget this request counts against."""
        address = client_address(request)
        if request.method == "POST" and request.path.rstrip("/") in _LOGIN_PATHS:
            budgets = [("login-ip", self._login_ip, address)]
            email = await _email(request)
            if email is not None:
                budgets.append(("login-email", self._login_email, email))
            return budgets
        user_id = viewer(request)
        whose = f"user:{user_id}" if user_id is not None else address
        if request.method in _READ_METHODS:
            return [("reads", self._reads, whose)]
        return [("writes", self._writes, whose)]

    @staticmethod
    async def _count(limiter: FixedWindowRateLimiter, name: str, limit: RateLimitItem, whose: str) -> Standing:
        allowed = await limiter.hit(limit, name, whose)
        stats = await limiter.get_window_stats(limit, name, whose)
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        return Standing(name, limit, allowed, stats.remaining, reset_in)


def client_address(request: web.Request) -> str:
    """The client's address as budgets count it: an IPv4 address, or an IPv6 address's /64 network."""
    remote = request.remote or "unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return f"ip:{remote}"
    if address.version == 6:
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


async def _email(request: web.Request) -> str | None:
    """A digest of the e-mail a login or registration names (`{"user": {"email": ...}}`), if it names one.

    Only a digest is kept in the storage: a Redis shared by API processes holds no address.
    The body stays readable by the handler, which parses it strictly.
    """
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    user = body.get("user") if isinstance(body, dict) else None
    email = user.get("email") if isinstance(user, dict) else None
    if not isinstance(email, str) or not email.strip():
        return None
    return "email:" + hashlib.blake2b(email.strip().casefold().encode(), digest_size=16).hexdigest()
