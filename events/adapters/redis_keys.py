"""The key store of deployments with several hosts: wrapped data keys in Redis (events/keys.py).

One string per owner under `tribe:key:<owner>`: `K` and the wrapped key, or `D` alone once the
key was destroyed (a marker without key material). `put_new` is one `SET ... NX GET` (Redis 7.0
or later), so the first key wins without a script; `destroy` is one `SET` of the marker.

A reply must mean "on disk": a key lost in a crash would erase its owner's data as surely as a
destroy, and a destroy lost in a crash would bring the key back. The server must therefore run
with `appendonly yes` and `appendfsync always` (each write is in the AOF and fsynced before its
reply) and must never evict these keys (no `allkeys-*` maxmemory policy). The store checks
this with `CONFIG GET` before its first command and refuses a server that does not comply.
docs/privacy.md says why Redis, and what remains of a destroyed key in the AOF until a rewrite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from typing import TypeVar

import coredis
from coredis.exceptions import BusyLoadingError, ResponseError
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import TimeoutError as RedisTimeoutError
from coredis.tokens import PureToken

from events.keys import KeyDestroyed, KeyStore, KeyStoreUnavailable, StoredKeys

T = TypeVar("T")

PREFIX = "tribe:key:"
_KEY = b"K"
_DESTROYED = b"D"
_REQUIRED = {b"appendonly": b"yes", b"appendfsync": b"always"}


class RedisNotDurable(KeyStoreUnavailable):
    """The server could lose or evict a write it acknowledged; nothing was written to it."""


class RedisKeyStore(KeyStore):
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._redis: coredis.Redis[bytes] = coredis.Redis.from_url(url, connect_timeout=timeout, stream_timeout=timeout)
        self._checked = False

    async def _call(self, command: Awaitable[T]) -> T:
        try:
            return await command
        except (RedisConnectionError, RedisTimeoutError, BusyLoadingError) as exc:
            raise KeyStoreUnavailable(f"{self._url}: {exc}") from exc

    async def _check_durable(self) -> None:
        if self._checked:
            return
        try:
            found = await self._call(self._redis.config_get([*_REQUIRED, b"maxmemory-policy"]))
        except ResponseError as exc:
            raise RedisNotDurable(
                f"{self._url} does not answer CONFIG GET ({exc}): the key store cannot check that every write"
                " is fsynced before its reply (docs/privacy.md)"
            ) from exc
        wrong = {name: found.get(name) for name, value in _REQUIRED.items() if found.get(name) != value}
        if wrong or found.get(b"maxmemory-policy", b"").startswith(b"allkeys-"):
            raise RedisNotDurable(
                f"{self._url} runs with {found}: the key store needs appendonly yes, appendfsync always"
                " and no allkeys-* maxmemory-policy, or an acknowledged key or erasure can be lost (docs/privacy.md)"
            )
        self._checked = True

    async def get(self, owners: Collection[str]) -> StoredKeys:
        wanted = list(dict.fromkeys(owners))
        if not wanted:
            return StoredKeys({}, frozenset())
        await self._check_durable()
        values = await self._call(self._redis.mget([PREFIX + owner for owner in wanted]))
        wrapped: dict[str, bytes] = {}
        destroyed: set[str] = set()
        for owner, value in zip(wanted, values):
            if value == _DESTROYED:
                destroyed.add(owner)
            elif value is not None:
                wrapped[owner] = value.removeprefix(_KEY)
        return StoredKeys(wrapped, frozenset(destroyed))

    async def put_new(self, owner: str, wrapped: bytes) -> bytes:
        await self._check_durable()
        before = await self._call(self._redis.set(PREFIX + owner, _KEY + wrapped, condition=PureToken.NX, get=True))
        if before is None:
            return wrapped
        if before == _DESTROYED:
            raise KeyDestroyed(owner)
        assert isinstance(before, bytes), before
        return before.removeprefix(_KEY)

    async def destroy(self, owner: str) -> None:
        await self._check_durable()
        await self._call(self._redis.set(PREFIX + owner, _DESTROYED))

    async def close(self) -> None:
        self._redis.connection_pool.disconnect()
