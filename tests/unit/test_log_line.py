"""The canonical log line: one per request, with the request id the answer carries, stamped in UTC."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from tribe.bootstrap import create_app
from tribe.logs import UtcStamp
from tribe.settings import Settings

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    return await aiohttp_client(create_app(settings))


async def test_each_request_gets_its_own_id_in_its_answer_and_its_line(client: TestClient) -> None:
    with capture_logs(processors=[merge_contextvars]) as lines:
        answers = [await client.get("/api/tags") for _ in range(3)]
    ids = [answer.headers["X-Request-Id"] for answer in answers]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 3
    logged = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in logged] == ids
    assert [line["route"] for line in logged] == ["/api/tags"] * 3


async def test_a_request_id_the_client_sends_is_kept(client: TestClient) -> None:
    with capture_logs(processors=[merge_contextvars]) as lines:
        answer = await client.get("/api/tags", headers={"X-Request-Id": "from-the-front-end-42"})
        traced = await client.get("/api/tags", headers={"X-Request-Id": "00-0af7651916cd43dd8448eb211c80319c-01"})
    assert answer.headers["X-Request-Id"] == "from-the-front-end-42"
    assert traced.headers["X-Request-Id"] == "00-0af7651916cd43dd8448eb211c80319c-01"
    assert [line["request_id"] for line in lines if line["event"] == "request"] == [
        "from-the-front-end-42",
        "00-0af7651916cd43dd8448eb211c80319c-01",
    ]


@pytest.mark.parametrize("sent", ["x" * 129, "two words", 'a"quote', "line\tbreak", "é", "-" * 8190])
async def test_a_request_id_the_client_sends_that_is_no_plain_id_is_replaced(client: TestClient, sent: str) -> None:
    with capture_logs(processors=[merge_contextvars]) as lines:
        answer = await client.get("/api/tags", headers={"X-Request-Id": sent})
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-Id"])
    assert [line["request_id"] for line in lines if line["event"] == "request"] == [answer.headers["X-Request-Id"]]


@pytest.mark.parametrize("at", [1_796_410_000.0, 1_796_410_000.000001, 1_796_410_071.123456, 1_796_410_071.999999])
def test_the_stamp_is_iso_8601_in_utc_to_the_microsecond(at: float) -> None:
    stamped = UtcStamp(clock=lambda: at)(None, "info", {})["timestamp"]
    moment = datetime.fromtimestamp(at, tz=UTC)
    assert abs(datetime.fromisoformat(stamped.replace("Z", "+00:00")) - moment).total_seconds() < 2e-6
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamped)


def test_the_stamp_follows_the_clock_across_seconds() -> None:
    times = iter([100.5, 100.75, 101.25, 3600.0])
    stamp = UtcStamp(clock=lambda: next(times))
    assert [stamp(None, "info", {})["timestamp"] for _ in range(4)] == [
        "1970-01-01T00:01:40.500000Z",
        "1970-01-01T00:01:40.750000Z",
        "1970-01-01T00:01:41.250000Z",
        "1970-01-01T01:00:00.000000Z",
    ]
