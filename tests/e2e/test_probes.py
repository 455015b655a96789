"""`/metrics`, `/health/live` and `/health/ready` on `tribe serve` (the embedded log), in process.

The exposition is read with prometheus_client's own parser, before and after some load: the series
exist and move, routes are labelled by template, 4xx are counted by kind, and parked events and the
dead letters held are counted. test_prometheus.py scrapes a real server and a real worker with a real
Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import MAX_BODY_BYTES
from events.adapters.sqlite_log import SqliteLog
from projections.adapters.sqlite_store import SqliteStore
from projections.views import VIEWS
from tests.e2e.conftest import Api, auth
from tests.integration.faulty_views import broken_notifications
from tribe.bootstrap import create_app
from tribe.settings import Settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SECRET = "test-secret-" + "x" * 40


def parse(exposition: str) -> Samples:
    """Every sample of the exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def scrape(client: TestClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return parse(await r.text())


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 for a series not there (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of the name whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_the_exposition_parses_and_its_series_move_under_load(api: Api) -> None:
    before = await scrape(api.client)
    token = await api.register("metered")
    slugs = [(await api.publish(token, title=f"Article {i}"))["slug"] for i in range(2)]
    for slug in slugs:
        assert (await api.client.get(f"/api/articles/{slug}")).status == 200
    assert (await api.client.get("/api/articles/no-such-article")).status == 404
    assert (await api.client.get("/nowhere")).status == 404
    too_large = await api.client.post("/api/articles", data=b"x" * (MAX_BODY_BYTES + 1), headers=auth(token))
    assert too_large.status == 413
    after = await scrape(api.client)

    latency = "tribe_http_request_duration_seconds_count"
    assert value(after, latency, route="/api/articles/{slug}", method="GET", status="200") == 2
    assert value(after, latency, route="/api/articles/{slug}", method="GET", status="404") == 1
    assert value(after, latency, route="/api/users", method="POST", status="201") == 1
    routes = {dict(labels).get("route") for name, labels in after if name == latency}
    assert not {r for r in routes if r and any(slug in r for slug in slugs)}, "a raw path became a label"
    assert value(after, "tribe_http_client_errors_total", kind="too_large", route="/api/articles") == 1
    assert value(after, "tribe_http_client_errors_total", kind="not_found", route="unmatched") == 1
    assert value(after, "tribe_http_client_errors_total", kind="not_found", route="/api/articles/{slug}") == 1

    for topic in ("tribe.users", "tribe.articles"):
        grew = value(after, "tribe_events_appended_total", topic=topic) - value(
            before, "tribe_events_appended_total", topic=topic
        )
        assert grew >= 1, topic
    waits = "tribe_read_your_writes_wait_seconds_count"
    assert value(after, waits, waiter="write") - value(before, waits, waiter="write") == 3  # one register, 2 articles
    assert ("tribe_read_your_writes_timeouts_total", frozenset({("waiter", "write")})) in after

    # The embedded runtime projects in this process: its batches are counted here too.
    for view in ("users", "articles"):
        assert value(after, "tribe_projection_events_total", view=view) > value(
            before, "tribe_projection_events_total", view=view
        )
        assert value(after, "tribe_projection_batch_seconds_count", view=view) >= 1


async def test_the_lag_gauges_cover_every_partition_of_every_view(api: Api) -> None:
    samples = await _eventually(api.client, lambda s: total(s, "tribe_projection_lag_events") == 0
                                and ("tribe_projection_dead_letters", frozenset({("view", "users")})) in s)
    for view in VIEWS:
        assert value(samples, "tribe_projection_dead_letters", view=view.name) == 0
        for topic, partition in view.partitions():
            labels = {"view": view.name, "topic": topic, "partition": str(partition)}
            assert ("tribe_projection_lag_events", frozenset(labels.items())) in samples
            assert ("tribe_projection_lag_seconds", frozenset(labels.items())) in samples


async def _eventually(client: TestClient, test: Callable[[Samples], bool], timeout: float = 30.0) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(client)
        if test(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics never showed it"
        await asyncio.sleep(0.2)


async def test_rate_limits_count_429s_by_kind_and_never_limit_the_probes(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, rate_limit_reads="2/minute")
    client = await aiohttp_client(create_app(settings))
    for _ in range(5):
        for path in ("/metrics", "/health/live", "/health/ready", "/metrics/"):
            r = await client.get(path)  # ready may be 503 for a moment at start, before the views report
            assert r.status != 429 and "RateLimit" not in r.headers, (path, await r.text())
    statuses = [(await client.get("/api/tags")).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    samples = await scrape(client)
    assert value(samples, "tribe_http_client_errors_total", kind="rate_limited", route="/api/tags") == 1
    assert value(samples, "tribe_http_request_duration_seconds_count", route="/api/tags", method="GET",
                  status="429") == 1


async def test_live_and_ready_when_every_view_runs(api: Api) -> None:
    live = await api.client.get("/health/live")
    assert live.status == 200 and await live.json() == {"live": True}
    deadline = time.monotonic() + 30
    while (r := await api.client.get("/health/ready")).status != 200:
        assert time.monotonic() < deadline, await r.text()
        await asyncio.sleep(0.1)
    body = await r.json()
    assert body["ready"] is True and body["problems"] == []
    assert (body["log"], body["store"]) == ("reachable", "reachable")
    assert {v["state"] for v in body["views"].values()} == {"running"}


class LogDown(SqliteLog):
    """The embedded log, whose heads cannot be read while `down`."""

    down = False

    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if self.down:
            raise ConnectionError("the log does not answer")
        return await super().end_offsets(partitions)


class StoreDown(SqliteStore):
    """The SQLite store, whose aliases cannot be read while `down`."""

    down = False

    async def aliases(self) -> dict[str, str]:
        if self.down:
            raise ConnectionError("the store does not answer")
        return await super().aliases()


async def test_ready_answers_503_naming_the_log_or_the_store_that_does_not_answer(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    log, store = LogDown(data / "log.db"), StoreDown(data / "store.db")
    client = await aiohttp_client(create_app(Settings(data_dir=data, jwt_secret=SECRET), log=log, store=store))
    deadline = time.monotonic() + 30
    while (r := await client.get("/health/ready")).status != 200:
        assert time.monotonic() < deadline, await r.text()
        await asyncio.sleep(0.1)
    for down, what in ((log, "log"), (store, "store")):
        down.down = True
        r = await client.get("/health/ready")
        body = await r.json()
        live = await client.get("/health/live")  # asks nothing of the log or the store
        down.down = False
        assert r.status == 503 and body["ready"] is False, body
        assert body[what] == f"unreachable (the {what} does not answer)"
        assert body["problems"] == [f"{what}: unreachable (the {what} does not answer)"]
        assert live.status == 200
    assert (await client.get("/health/ready")).status == 200


async def test_ready_answers_503_naming_the_view_that_retries(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, write_wait=0.2)
    client = await aiohttp_client(create_app(settings, views=broken_notifications()))
    r = await client.post(
        "/api/users", json={"user": {"username": "ann", "email": "ann@example.com", "password": "long-enough-pw"}}
    )
    token = (await r.json())["user"]["token"]
    published = await client.post("/api/articles", json={"article": {"title": "T", "description": "d", "body": "b"}},
                                  headers=auth(token))
    assert published.headers["X-Tribe-Read-Model"] == "behind", "the notifications view never reflects it"
    slug = (await published.json())["article"]["slug"]
    read = await client.get(f"/api/articles/{slug}", headers={"X-Tribe-After": published.headers["X-Tribe-Position"]})
    assert read.status == 200
    waited = await scrape(client)
    for waiter in ("write", "read"):
        assert value(waited, "tribe_read_your_writes_timeouts_total", waiter=waiter) == 1, waiter
    deadline = time.monotonic() + 30
    while (ready := await client.get("/health/ready")).status != 503:
        assert time.monotonic() < deadline, await ready.text()
        await asyncio.sleep(0.1)
    body = await ready.json()
    assert body["ready"] is False
    assert body["views"]["notifications"]["state"] == "retrying"
    assert any(p.startswith("notifications: ") and "retrying" in p and "a bug in the notifications reducer" in p
               for p in body["problems"]), body["problems"]
    assert body["views"]["users"]["state"] == "running"
    assert (await client.get("/health/live")).status == 200
    samples = await _eventually(
        client,
        lambda s: value(s, "tribe_projection_retries_total", view="notifications") >= 1
        and total(s, "tribe_projection_lag_events", view="notifications") >= 1,
    )
    assert value(samples, "tribe_projection_retries_total", view="users") == 0
    assert total(samples, "tribe_projection_lag_events", view="users") == 0
    behind = [v for (name, labels), v in samples.items()
              if name == "tribe_projection_lag_seconds" and ("view", "notifications") in labels and v > 0]
    assert behind, "the oldest event the view has not applied has an age"


async def test_parked_events_are_counted_and_the_dead_letters_held_are_shown(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    """One retry, then the notifications view parks what it cannot fold: both dead-letter series move."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, write_wait=0.2, projection_retries=1,
                        projection_backoff=0.01)
    client = await aiohttp_client(create_app(settings, views=broken_notifications()))
    r = await client.post(
        "/api/users", json={"user": {"username": "cy", "email": "cy@example.com", "password": "long-enough-pw"}}
    )
    token = (await r.json())["user"]["token"]
    before = await scrape(client)
    assert value(before, "tribe_projection_dead_letters", view="notifications") == 0
    await client.post("/api/articles", json={"article": {"title": "T", "description": "d", "body": "b"}},
                      headers=auth(token))
    samples = await _eventually(client, lambda s: value(s, "tribe_projection_dead_letters", view="notifications") >= 1)
    assert value(samples, "tribe_projection_dead_letters_parked_total", view="notifications") >= 1
    assert value(samples, "tribe_projection_retries_total", view="notifications") >= 1
    for view in ("users", "articles"):
        assert ("tribe_projection_dead_letters_parked_total", frozenset({("view", view)})) in samples
        assert value(samples, "tribe_projection_dead_letters_parked_total", view=view) == 0
        assert value(samples, "tribe_projection_dead_letters", view=view) == 0


async def test_ready_answers_503_when_a_view_is_further_behind_than_the_bound(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    """A bound of 0 events with a view that cannot follow: the lag is named with the bound."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, write_wait=0.2, ready_max_lag=0)
    client = await aiohttp_client(create_app(settings, views=broken_notifications()))
    r = await client.post(
        "/api/users", json={"user": {"username": "bob", "email": "bob@example.com", "password": "long-enough-pw"}}
    )
    token = (await r.json())["user"]["token"]
    await client.post("/api/articles", json={"article": {"title": "T", "description": "d", "body": "b"}},
                      headers=auth(token))
    deadline = time.monotonic() + 30
    while True:
        body = await (await client.get("/health/ready")).json()
        if any("events behind the log (the bound is 0)" in p for p in body["problems"]):
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    assert body["views"]["notifications"]["lag"] >= 1
    assert not any(p.startswith("users:") for p in body["problems"])
