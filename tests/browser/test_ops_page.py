"""The operator page (/ops) in a real chromium: an admin signs in, sees the views and a dead letter, retries it.

The server is the application of the composition root (`create_app`) on a real port, run in a
thread of this process, so the test can fix the reducer's bug (the same code, configured) before
it clicks retry, as an operator would deploy a fix. Set TRIBE_OPS_SCREENSHOT to a path (e.g.
docs/ops.png) to have the page with its views and dead letter written there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from events.catalogue import Event, UserFollowed
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW, VIEWS, View
from reducers.base import Body, DocKey
from reducers.notifications import NotificationsReducer
from tests.sealed import data_dir_keys
from tests.threaded_server import serving
from tribe.bootstrap import create_app
from tribe.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

PASSWORD = "long-enough-pw"
SCREENSHOT = os.environ.get("TRIBE_OPS_SCREENSHOT")


class FollowsBreakNotifications(NotificationsReducer):
    """The notifications reducer with a bug on follows (while `broken`); every other event goes through."""

    broken = True

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        if self.broken and isinstance(event, UserFollowed):
            raise RuntimeError("a bug in the notifications reducer, on a follow")
        return super().apply(event, docs)


def post(url: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})}
    data = json.dumps(body or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(url + path, data, headers), timeout=30) as answer:
        assert answer.status in (200, 201), answer.status
        result: dict[str, Any] = json.loads(answer.read())
        return result


def register(url: str, name: str) -> str:
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    return str(post(url, "/api/users", {"user": user})["user"]["token"])


def publish(url: str, token: str, title: str) -> None:
    post(url, "/api/articles", {"article": {"title": title, "description": "d", "body": "b"}}, token)


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/ops")
    page.fill("input[name=email]", f"{name}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_an_admin_sees_the_views_and_retries_a_dead_letter_and_nobody_else_sees_anything(
    chromium: Browser, tmp_path: Path
) -> None:
    # Waits go through locators and `expect`: wait_for_function evaluates a string in the page, which the
    # page's Content-Security-Policy refuses (no 'unsafe-eval'), as it should.
    from playwright.sync_api import expect

    data = tmp_path / "data"
    settings = Settings(
        data_dir=data, jwt_secret="test-secret-" + "x" * 40, admins=("root",), projection_retries=1,
        projection_backoff=0.01,
    )
    bug = FollowsBreakNotifications()
    views: tuple[View, ...] = tuple(
        dataclasses.replace(NOTIFICATIONS_VIEW, reducer=bug) if v.name == "notifications" else v for v in VIEWS
    )
    with serving(create_app(settings, views=views)) as url:
        root, ann = register(url, "root"), register(url, "ann")
        for n in range(3):
            publish(url, root, f"Field notes {n}")
        # A second version of the articles view, built beside the live one and not switched to: the page
        # shows it as building, behind by what is written after it.
        subprocess.run(
            [sys.executable, "-m", "tribe", "replay", "build", "articles", "--dry-run", "--data-dir", str(data)],
            check=True, capture_output=True, env={**os.environ, "TRIBE_LOG_FORMAT": "json", **data_dir_keys(data)},
        )
        publish(url, root, "Written during the rebuild")
        post(url, "/api/profiles/root/follow", token=ann)

        admin = chromium.new_context(viewport={"width": 1360, "height": 900})
        try:
            page = admin.new_page()
            sign_in(page, url, "root")
            letter = page.locator("#letters tr[data-letter-id]")
            letter.wait_for(timeout=30_000)
            page.wait_for_selector("#views td:has-text('events/s')", timeout=30_000)

            shown = page.locator("#views tbody tr").evaluate_all("rows => rows.map(r => r.dataset.view)")
            views = ["users", "follows", "articles", "articles", "tribes", "notifications", "trending", "timelines",
                     "moderation"]
            assert shown == views
            building = page.locator(f"#views tr[data-view=articles][data-version='{ARTICLES_VIEW.version + 1}']")
            assert "building" in building.inner_text() and building.locator("progress").count() == 1
            assert building.locator("progress").get_attribute("value") != "1"
            notifications = page.locator("#views tr[data-view=notifications]")
            assert notifications.locator("[data-state]").inner_text() == "parked"
            assert letter.count() == 1
            assert "a bug in the notifications reducer, on a follow" in letter.inner_text()
            letter_id = letter.get_attribute("data-letter-id")
            assert letter_id is not None and letter_id.startswith("notifications_v")
            if SCREENSHOT:
                page.screenshot(path=SCREENSHOT, full_page=True)

            page.once("dialog", lambda dialog: dialog.dismiss())  # a skip asks first; dismissed, nothing happens
            letter.locator("button[data-action=skip]").click()
            assert letter.count() == 1

            bug.broken = False  # the fix deployed: the same code, its bug configured away
            letter.locator("button[data-action=retry]").click()
            page.wait_for_selector("#letters tr[data-letter-id]", state="detached", timeout=30_000)
            assert page.locator("#notice").inner_text() == f"retry {letter_id}: 1 event(s) applied."
            assert page.is_visible("#no-letters")
            expect(notifications.locator("[data-state]")).to_have_text("running", timeout=30_000)
        finally:
            admin.close()

        other = chromium.new_context()
        try:
            page = other.new_page()
            sign_in(page, url, "ann")
            expect(page.locator("#notice")).to_contain_text("ann is not an admin", timeout=30_000)
            assert page.locator("#views tbody tr").count() == 0 and page.locator("#letters tbody tr").count() == 0
            assert not page.is_visible("#board")
            answers = page.evaluate(
                """async () => [
                    (await fetch('/v1/admin/status')).status,
                    (await fetch('/v1/admin/status', {
                        headers: {Authorization: 'Token ' + sessionStorage.getItem('tribe.ops.token')},
                    })).status,
                ]"""
            )
            assert answers == [401, 403]
        finally:
            other.close()
