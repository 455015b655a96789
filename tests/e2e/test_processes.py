"""`tribe serve --processes 2` on the embedded default: two API processes on one port, one of which folds the log.

Checked as a client and an operator meet it: connections spread over both processes, each
reads what the other wrote (read-your-writes across processes), `/metrics` on either counts the
requests of both, and stopping the command, even with `kill -9`, leaves no process behind.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import children
from tests.e2e.server import Server
from tests.sockets import ESTABLISHED, LISTENING, sockets, tcp

CONNECTIONS = 24
"""Independent connections: the kernel hashes each to one process, so all 24 land on one of two once in 8 million."""


def api_processes(server: Server) -> list[int]:
    """The command's API processes (not multiprocessing's resource tracker, which holds no socket)."""
    assert server.process is not None
    return [child for child in children(server.process.pid) if sockets(child)]


def holding(server: Server, state: str) -> dict[int, int]:
    """Per API process, how many of its sockets on the server's port are in `state`."""
    wanted = tcp(server.port, state)
    return {pid: len(sockets(pid) & wanted) for pid in api_processes(server)}


@contextmanager
def two_processes(tmp_path: Path) -> Iterator[Server]:
    """The command once it says it serves: each process has started and listens, so connections made
    now spread over both (a keep-alive connection stays with the process that accepted it)."""
    server = Server(tmp_path / "data", "--processes", "2").start()
    try:
        deadline = time.monotonic() + 30
        while "in 2 processes" not in server.output():
            assert time.monotonic() < deadline, f"the command never said it serves:\n{server.output()}"
            time.sleep(0.05)
        listening = sorted(holding(server, LISTENING).values())
        assert listening == [1, 1], f"said it serves before both listen:\n{server.output()}"
        yield server
    finally:
        server.stop()


async def _user_and_article(http: aiohttp.ClientSession, url: str, n: int) -> tuple[str, str]:
    user = {"username": f"user{n}", "email": f"user{n}@example.com", "password": "long-enough-pw"}
    async with http.post(f"{url}/api/users", json={"user": user}) as r:
        assert r.status == 201, await r.text()
        token = (await r.json())["user"]["token"]
    article = {"title": f"Article {n}", "description": "d", "body": "b"}
    headers = {"Authorization": f"Token {token}"}
    async with http.post(f"{url}/api/articles", json={"article": article}, headers=headers) as r:
        assert r.status == 201, await r.text()
        return token, (await r.json())["article"]["slug"]


async def test_connections_spread_over_both_processes_and_each_reads_what_the_other_wrote(tmp_path: Path) -> None:
    with two_processes(tmp_path) as server:
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(CONNECTIONS)]
        try:
            written = await asyncio.gather(*(_user_and_article(s, server.url, n) for n, s in enumerate(sessions)))
            spread = holding(server, ESTABLISHED)
            assert len(spread) == 2 and all(spread.values()), f"connections per process: {spread}"
            for n, session in enumerate(sessions):
                # Each connection follows the next one's author and reads the article, whichever process
                # wrote them: the process that folds the log saw the other's appends.
                token, _ = written[n]
                other, (_, slug) = f"user{(n + 1) % CONNECTIONS}", written[(n + 1) % CONNECTIONS]
                headers = {"Authorization": f"Token {token}"}
                async with session.post(f"{server.url}/api/profiles/{other}/follow", headers=headers) as r:
                    assert r.status == 200 and (await r.json())["profile"]["following"] is True, await r.text()
                async with session.get(f"{server.url}/api/articles/{slug}", headers=headers) as r:
                    assert r.status == 200 and (await r.json())["article"]["author"]["following"] is True
                # A token one process issued opens the other's doors: they share the secret.
                their_token = {"Authorization": f"Token {written[(n + 1) % CONNECTIONS][0]}"}
                async with session.get(f"{server.url}/api/user", headers=their_token) as r:
                    assert r.status == 200 and (await r.json())["user"]["username"] == other
        finally:
            await asyncio.gather(*(s.close() for s in sessions))


async def test_metrics_on_either_process_count_the_requests_of_both(tmp_path: Path) -> None:
    with two_processes(tmp_path) as server:
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(CONNECTIONS)]
        try:
            await asyncio.gather(*(_user_and_article(s, server.url, n) for n, s in enumerate(sessions)))
            assert all(holding(server, ESTABLISHED).values())
            for session in sessions:  # a scrape on each connection: whichever process answers, it counts all
                async with session.get(f"{server.url}/metrics") as r:
                    assert r.status == 200
                    exposition = await r.text()
                registrations = sum(
                    sample.value
                    for family in text_string_to_metric_families(exposition)
                    for sample in family.samples
                    if sample.name == "tribe_http_request_duration_seconds_count"
                    and sample.labels["route"] == "/api/users"
                    and sample.labels["status"] == "201"
                )
                assert registrations == CONNECTIONS
        finally:
            await asyncio.gather(*(s.close() for s in sessions))


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_command_stops_every_process(tmp_path: Path, how: signal.Signals) -> None:
    with two_processes(tmp_path) as server:
        assert server.process is not None
        started = children(server.process.pid)
        server.process.send_signal(how)
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while alive := [pid for pid in started if Path(f"/proc/{pid}").exists() and not _zombie(pid)]:
            assert time.monotonic() < deadline, f"still running after the command ended: {alive}"
            time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
