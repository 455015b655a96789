"""A Conduit client in a real browser, on its own origin, uses the API through fetch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.server import running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

POSITION = re.compile(r"^[\w.]+:\d+:\d+(,[\w.]+:\d+:\d+)*$")


def test_a_page_on_another_origin_signs_up_publishes_follows_and_reads_its_feed(
    chromium: Browser, site: str, tmp_path: Path
) -> None:
    with running_server(tmp_path / "data") as server:
        page = chromium.new_page()
        try:
            page.goto(f"{site}/index.html?api={server.url}")
            page.wait_for_function("window.outcome !== undefined", timeout=30_000)
            outcome = page.evaluate("window.outcome")
        finally:
            page.close()

    assert "error" not in outcome, outcome["error"]
    assert outcome["pageOrigin"] == site != server.url
    assert outcome["signUps"] == [201, 201]
    assert outcome["published"]["status"] == 201
    assert POSITION.match(outcome["published"]["position"] or ""), outcome["published"]
    assert outcome["favorited"] == {"status": 200, "favorited": True, "count": 1}
    assert outcome["followed"] == {"status": 200, "following": True}
    assert outcome["feed"]["status"] == 200
    assert outcome["feed"]["slugs"] == [outcome["published"]["slug"]]
    assert outcome["feed"]["requestId"]
    assert outcome["anonymous"]["status"] == 401
    assert "token" in outcome["anonymous"]["errors"]
