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
/64 network, which one host usually holds whole. The probes (`/metrics`, `/health/live`,
`/health/ready`: api/probes.py) count against no budget.

Windows are fixed: a client's window opens at its first request and its whole budget comes
back when the window ends. Every answer that went through the limiter names its budgets and
where the client stands (draft-ietf-httpapi-ratelimit-headers):

    RateLimit-Policy: "reads";q=1200;w=60
    RateLimit: "reads";r=1187;t=42

`q` requests per `w` seconds, `r` left, `t` seconds until the window ends. A request over a
budget is answered 429 with those headers and `Retry-After` (the `t` of the budget it
exceeded), and goes no further.

The counters live where the storage URL says: `memory://` (this process, `LocalCounters`),
`redis://HOST:PORT` (every API process sharing one budget per client, the `limits` Redis
storage). The storage is opened in the application's cleanup context. When it fails (Redis
unreachable), requests go through uncounted and each failure is logged: the limits protect the
service, they must not stop it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import AsyncIterator, Callable
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
from limits.errors import StorageError
from limits.storage import StorageTypes, storage_from_string

from api.errors import json_error
from api.probes import PATHS as PROBES
from api.requests import viewer

REDIS_SCHEMES = ("redis", "rediss")
STORAGE_SCHEMES = ("memory", *REDIS_SCHEMES)
_LOGIN_PATHS = ("/api/users", "/api/users/login")
_READ_METHODS = ("GET", "HEAD")
_HEADERS = web.RequestKey("rate_limit_headers", dict[str, str])
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


class LocalCounters(Storage):
    """Fixed-window counters in this process's memory (`memory://`), for the `limits` strategies.

    `limits`' own MemoryStorage scans every counter whenever it counts, to drop expired ones: with
    10,000 clients in a window, a request cost 2 ms, and a client sending logins for new e-mails
    made every later request dearer. Here a counter past its window counts from zero when it is
    next touched, and expired counters are dropped at most once every `sweep_every` seconds: a
    count costs the same whatever the number of clients.
    """

    def __init__(self, sweep_every: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, end of its window, epoch seconds)
        self._sweep_every = sweep_every
        self._clock = clock
        self._next_sweep = clock() + sweep_every

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        counter = self._counters.get(key)
        return counter if counter is not None and counter[1] > now else None

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._clock()
        if now >= self._next_sweep:
            self._counters = {k: c for k, c in self._counters.items() if c[1] > now}
            self._next_sweep = now + self._sweep_every
        counter = self._live(key, now)
        count, end = (counter[0] + amount, counter[1]) if counter is not None else (amount, now + expiry)
        self._counters[key] = (count, end)
        return count

    async def get(self, key: str) -> int:
        counter = self._live(key, self._clock())
        return counter[0] if counter is not None else 0

    async def get_expiry(self, key: str) -> float:
        now = self._clock()
        counter = self._live(key, now)
        return counter[1] if counter is not None else now

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        dropped = len(self._counters)
        self._counters.clear()
        return dropped

    async def clear(self, key: str) -> None:
        self._counters.pop(key, None)


async def open_storage(url: str) -> tuple[Storage, Callable[[], None]]:
    """The storage the URL names, and what closes it.

    `memory://` is this process's `LocalCounters`; any other scheme is the `limits` storage of that
    name (`redis://`), a Redis one with a connection pool of our own, which the close disconnects.
    Not an async context manager: `RateLimiter.lifecycle` would then hold a second async generator,
    and when an app's startup fails after the lifecycle has started, nothing closes the two but the
    event loop's shutdown, in either order; closed second, the lifecycle raised "generator didn't
    stop after athrow()" at exit.
    """
    scheme = urlsplit(url).scheme
    pool = coredis.ConnectionPool.from_url(url) if scheme in REDIS_SCHEMES else None
    if scheme == "memory":
        storage: Storage | StorageTypes = LocalCounters()
    else:
        options: dict[str, Any] = {} if pool is None else {"connection_pool": pool}
        storage = storage_from_string(f"async+{url}", wrap_exceptions=True, **options)
    assert isinstance(storage, Storage), "an async+ URL names an asyncio storage"
    if not await storage.check():
        log.warning("rate limit storage unreachable: requests go through uncounted until it answers", url=url)
    return storage, (pool.disconnect if pool is not None else lambda: None)


class RateLimiter:
    """The budgets of every client, as an aiohttp middleware over the storage the URL names.

    Put the middleware after authentication (it counts a signed-in user's requests by user),
    `lifecycle` in the application's cleanup context and `mark` in its `on_response_prepare`
    signal: the headers go on every answer, errors the middlewares around it make included.
    """

    def __init__(self, budgets: Budgets, storage_url: str) -> None:
        self._reads = parse(budgets.reads)
        self._writes = parse(budgets.writes)
        self._login_ip = parse(budgets.login_ip)
        self._login_email = parse(budgets.login_email)
        self._storage_url = storage_url
        self._storage: Storage | None = None

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        self._storage, close = await open_storage(self._storage_url)
        try:
            yield
        finally:
            self._storage = None
            close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" or self._storage is None or request.path.rstrip("/") in PROBES:
            return await handler(request)  # the probes are asked every few seconds, by scrapers and orchestrators
        standings: list[Standing] = []
        try:
            for budget in await self._budgets(request):
                standings.append(await self._count(self._storage, *budget))
                if not standings[-1].allowed:
                    break  # the later budgets are not counted: a refused request creates no counter
        except StorageError as exc:
            log.warning("rate limit storage failed: request not counted", error=str(exc.storage_error))
            return await handler(request)
        headers = {
            "RateLimit-Policy": ", ".join(s.policy() for s in standings),
            "RateLimit": ", ".join(s.state() for s in standings),
        }
        request[_HEADERS] = headers
        exceeded = [s for s in standings if not s.allowed]
        if exceeded:
            problems = [
                f"over the {s.name} budget of {s.limit.amount} requests per {s.limit.get_expiry()} s; "
                f"retry in {s.reset_in} s"
                for s in exceeded
            ]
            return json_error(429, {"rate": problems}, {"Retry-After": str(max(1, *(s.reset_in for s in exceeded)))})
        return await handler(request)

    @staticmethod
    async def mark(request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Put the request's RateLimit headers on its answer, whatever made it."""
        response.headers.update(request.get(_HEADERS, {}))

    async def _budgets(self, request: web.Request) -> list[tuple[str, RateLimitItem, str]]:
        """(name, limit, whose) of every budget this request counts against."""
        if request.method == "POST" and request.path.rstrip("/") in _LOGIN_PATHS:
            budgets = [("login-ip", self._login_ip, client_address(request))]
            email = await _email(request)
            if email is not None:
                budgets.append(("login-email", self._login_email, email))
            return budgets
        user_id = viewer(request)
        whose = f"user:{user_id}" if user_id is not None else client_address(request)
        if request.method in _READ_METHODS:
            return [("reads", self._reads, whose)]
        return [("writes", self._writes, whose)]

    @staticmethod
    async def _count(storage: Storage, name: str, limit: RateLimitItem, whose: str) -> Standing:
        """Count the request in its fixed window (as `limits`' FixedWindowRateLimiter, on the same key).

        Two storage operations, a round trip each on Redis: the increment answers the count, from
        which the remaining budget follows, and the window's end is read. The strategy's hit and
        window stats took three, reading the count back after incrementing it.
        """
        key = limit.key_for(name, whose)
        count = await storage.incr(key, limit.get_expiry())
        reset_in = max(0, math.ceil(await storage.get_expiry(key) - time.time()))
        return Standing(name, limit, count <= limit.amount, max(0, limit.amount - count), reset_in)


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
