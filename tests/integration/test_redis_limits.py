"""Rate limits shared by several API processes through a real redis-server (Debian's package).

The test starts its own redis-server on a free loopback port and stops it. No redis-server is a
failure, not a skip: scripts/debian-packages installs it before the tests run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import coredis
import pytest
from aiohttp.test_utils import TestClient

from tests.e2e.server import free_port
from tribe.bootstrap import create_app
from tribe.settings import Settings

Client = Callable[..., Awaitable[TestClient]]


class RedisServer:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.url = f"redis://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: scripts/debian-packages installs it (Debian package redis-server)")
    port = free_port()
    output = (tmp_path / "redis.log").open("wb")
    # Loopback only, nothing written to disk but the log.
    options = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    process = subprocess.Popen(
        [binary, *options],
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(port, process)
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            assert process.poll() is None, (tmp_path / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield server
    finally:
        server.stop()
        output.close()


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
