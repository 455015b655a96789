"""/v1/admin/dead-letters over HTTP: admins only (TRIBE_ADMINS), the same operations as `tribe dlq`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from projections.views import NOTIFICATIONS_VIEW, VIEWS
from tests.integration.faulty_views import broken_notifications, fixed
from tribe.bootstrap import create_app
from tribe.settings import Settings

LETTERS = "/v1/admin/dead-letters"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def register(client: TestClient, name: str) -> str:
    user = {"username": name, "email": f"{name}@example.com", "password": "long-enough-pw"}
    r = await client.post("/api/users", json={"user": user})
    assert r.status == 201, await r.text()
    return str((await r.json())["user"]["token"])


async def letters(client: TestClient, token: str) -> list[dict[str, Any]]:
    r = await client.get(LETTERS, headers=auth(token))
    assert r.status == 200, await r.text()
    return list((await r.json())["dead_letters"])


async def test_admins_list_show_retry_and_skip_dead_letters_and_nobody_else_may(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, admins=("Root",),
        projection_retries=1, projection_backoff=0.01,
    )
    views = broken_notifications()
    client = await aiohttp_client(create_app(settings, views=views))
    root, ann, ben = await register(client, "root"), await register(client, "ann"), await register(client, "ben")
    for follower in (ann, ben):  # two follows of root, by two keys (the follower): each parked on its own
        r = await client.post("/api/profiles/root/follow", headers=auth(follower))
        assert r.status in (200, 202), await r.text()

    assert (await client.get(LETTERS)).status == 401
    refused = await client.get(LETTERS, headers=auth(ann))
    assert refused.status == 403 and (await refused.json()) == {"errors": {"user": ["is not an admin"]}}
    assert (await client.post(f"{LETTERS}/whatever/retry", headers=auth(ann))).status == 403

    deadline = time.monotonic() + 20
    while len(parked := await letters(client, root)) < 2:
        assert time.monotonic() < deadline, parked
        await asyncio.sleep(0.05)
    assert [(x["projection"], x["state"]) for x in parked] == [(NOTIFICATIONS_VIEW.projection_id(), "failed")] * 2
    first, second = parked
    assert first["state"] == "failed" and "a bug in the notifications reducer" in first["cause"]

    shown = await client.get(f"{LETTERS}/{first['id']}", headers=auth(root))
    assert shown.status == 200
    body = await shown.json()
    assert body["event"]["type"] == "UserFollowed" and body["sequence"][0] == first["id"]
    assert (await client.get(f"{LETTERS}/nothing:here:0:0", headers=auth(root))).status == 404

    again = await client.post(f"{LETTERS}/{first['id']}/retry", headers=auth(root))
    assert again.status == 200
    failed = (await again.json())["failed"]
    assert failed["id"] == first["id"] and failed["attempts"] == first["attempts"] + 1

    fixed(views)  # the bug fixed, the same code
    retried = await (await client.post(f"{LETTERS}/{first['id']}/retry", headers=auth(root))).json()
    assert retried == {"applied": [first["id"]], "failed": None, "skipped": None, "left_behind": []}
    skipped = await (await client.post(f"{LETTERS}/{second['id']}/skip", headers=auth(root))).json()
    assert skipped == {"applied": [], "failed": None, "skipped": second["id"], "left_behind": []}
    assert await letters(client, root) == []


async def test_admins_see_every_views_versions_and_dead_letters_and_the_page_holds_no_data(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, admins=("root",),
        projection_retries=1, projection_backoff=0.01,
    )
    client = await aiohttp_client(create_app(settings, views=broken_notifications()))
    root, ann = await register(client, "root"), await register(client, "ann")
    assert (await client.post("/api/profiles/root/follow", headers=auth(ann))).status in (200, 202)

    assert (await client.get("/v1/admin/status")).status == 401
    assert (await client.get("/v1/admin/status", headers=auth(ann))).status == 403

    deadline = time.monotonic() + 20
    while not (parked := await letters(client, root)):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    r = await client.get("/v1/admin/status", headers=auth(root))
    assert r.status == 200, await r.text()
    body = await r.json()
    assert [v["view"] for v in body["views"]] == [view.name for view in VIEWS]
    assert body["dead_letters"] == parked
    views = {v["view"]: v for v in body["views"]}
    (notifications,) = views["notifications"]["versions"]
    assert notifications["live"] and notifications["state"] == "parked" and notifications["dead_letters"] == 1
    (users,) = views["users"]["versions"]
    assert users["done"] == 2 and users["lag"] == {"tribe.users:0": 0} and users["progress"] == 1.0
    assert users["throughput"] is None  # the first sample: no rate until a second one

    page = await client.get("/ops")
    assert page.status == 200 and page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert "/ops/ops.js" in html and "<script>" not in html and "notifications" not in html
    script = await client.get("/ops/ops.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "/v1/admin/status" in await script.text()
