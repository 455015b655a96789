"""bench/wrk.py drives wrk (Debian's package, installed by scripts/debian-packages) as the capacity figures need:
every request in turn with its headers and body, every answer counted, a failed answer raised.

No rate is asserted here (rates are `python -m bench`'s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench import wrk
from bench.procs import port_of
from tests.threaded_server import serving

REQUESTS = [
    {"method": "GET", "path": "/read", "headers": {"Authorization": "Token one"}},
    {"method": "GET", "path": "/read", "headers": {"Authorization": "Token two"}},
    {"method": "POST", "path": "/write", "headers": {"X-Note": "back\\slash"}, "body": '{"n": "tr\\"ée\u0001"}'},
]


class Seen:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.hosts: set[str] = set()


@pytest.fixture
def server() -> Iterator[tuple[int, Seen]]:
    """A server that counts what it is sent; /fail answers 503, /drop hangs up."""
    seen = Seen()

    async def record(request: web.Request) -> web.Response:
        body = await request.text()
        if request.path == "/drop":
            assert request.transport is not None
            request.transport.close()  # a read error for wrk
        sent = request.headers.get("Authorization", request.headers.get("X-Note", ""))
        seen.requests[(request.method, request.path, sent, body)] += 1
        seen.hosts.add(request.headers.get("Host", ""))
        return web.Response(status=503 if request.path == "/fail" else 200, text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    with serving(app) as url:
        yield port_of(url), seen


def test_wrk_is_installed() -> None:
    assert wrk.available(), "wrk is missing: bash scripts/debian-packages installs it"


def test_every_request_is_sent_in_turn_and_every_answer_counted(server: tuple[int, Seen], tmp_path: Path) -> None:
    port, seen = server
    connections = 2

    result = wrk.closed_loop(port, REQUESTS, connections, seconds=1, warmup=1, workdir=tmp_path)

    assert set(seen.requests) == {
        ("GET", "/read", "Token one", ""),
        ("GET", "/read", "Token two", ""),
        ("POST", "/write", "back\\slash", '{"n": "tr\\"ée\u0001"}'),
    }
    counts = seen.requests.values()
    assert max(counts) - min(counts) <= connections + 1  # in turn: each sent as often as the others
    served = sum(counts)
    # wrk counts the answers that arrived before each run's end; the server may have answered a
    # request per connection more.
    assert served - 2 * connections <= result["answers"] <= served
    assert result["answers"] > 10 and result["rps"] > 0
    assert seen.hosts == {f"127.0.0.1:{port}"}


def test_an_answer_that_is_not_2xx_fails_the_run(server: tuple[int, Seen], tmp_path: Path) -> None:
    port, _ = server
    failing = [*REQUESTS, {"method": "GET", "path": "/fail", "headers": {}}]

    with pytest.raises(RuntimeError, match="Non-2xx or 3xx responses"):
        wrk.closed_loop(port, failing, 1, seconds=1, warmup=0, workdir=tmp_path)


def test_a_connection_the_server_drops_fails_the_run(server: tuple[int, Seen], tmp_path: Path) -> None:
    port, _ = server
    dropping = [*REQUESTS, {"method": "GET", "path": "/drop", "headers": {}}]

    with pytest.raises(RuntimeError, match="Socket errors"):
        wrk.closed_loop(port, dropping, 1, seconds=1, warmup=0, workdir=tmp_path)
