"""Rate limits shared by several API processes through a real redis-server (tests/redis_server.py).

The test starts its own redis-server, without persistence, and stops it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import coredis
import pytest
from aiohttp.test_utils import TestClient

from tests.redis_server import RedisServer
from tribe.bootstrap import create_app
from tribe.settings import Settings

Client = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def api_process(aiohttp_client: Client, data_dir: Path, redis: RedisServer) -> TestClient:
    """One API process of several: its own data, the rate-limit counters in the shared Redis."""
    settings = Settings(
        data_dir=data_dir,
        jwt_secret="shared-secret-" + "z" * 40,
        rate_limit_storage=redis.url,
        rate_limit_reads="10/minute",
        rate_limit_login_email="3/minute",
    )
    return await aiohttp_client(create_app(settings))


async def test_two_api_processes_sharing_one_redis_share_each_clients_budget(
    aiohttp_client: Client, tmp_path: Path, redis_server: RedisServer
) -> None:
    one = await api_process(aiohttp_client, tmp_path / "one", redis_server)
    two = await api_process(aiohttp_client, tmp_path / "two", redis_server)

    reads = [await (one if i % 2 else two).get("/api/tags") for i in range(12)]
    assert [r.status for r in reads] == [200] * 10 + [429] * 2
    assert reads[9].headers["RateLimit"].startswith('"reads";r=0;t=')
    assert int(reads[-1].headers["Retry-After"]) >= 1

    logins = []
    for client in (one, two, one, two):
        body = {"user": {"email": "Ann@Example.com", "password": "guess"}}
        logins.append((await client.post("/api/users/login", json=body)).status)
    assert logins == [401, 401, 401, 429], "three logins for one e-mail a minute, whichever process answers"

    redis = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    keys = await redis.keys("*")
    redis.connection_pool.disconnect()
    assert keys and not any("@" in key or "ann" in key.lower() for key in keys), f"an e-mail in a Redis key: {keys}"


async def test_without_redis_requests_go_through_uncounted(
    aiohttp_client: Client, tmp_path: Path, redis_server: RedisServer
) -> None:
    client = await api_process(aiohttp_client, tmp_path / "one", redis_server)
    assert (await client.get("/api/tags")).headers["RateLimit"].startswith('"reads";r=9;t=')
    redis_server.stop()
    answered = [await client.get("/api/tags") for _ in range(15)]
    assert {r.status for r in answered} == {200}
    assert not any("RateLimit" in r.headers for r in answered)
