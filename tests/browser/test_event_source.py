"""A page on another origin follows its live stream with EventSource, and resumes it across a server restart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.server import running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def received(page: Page, count: int) -> list[dict[str, str]]:
    """The page's first `count` feed messages, once it has them."""
    page.wait_for_function(f"window.live.received.length >= {count}", timeout=30_000)
    messages: list[dict[str, str]] = page.evaluate("window.live.received")
    return messages


def test_an_event_source_on_another_origin_receives_and_resumes_after_a_forced_reconnect(
    chromium: Browser, site: str, tmp_path: Path
) -> None:
    with running_server(tmp_path / "data", env={"TRIBE_WRITE_WAIT": "30"}) as server:
        page = chromium.new_page()
        try:
            page.goto(f"{site}/stream.html?api={server.url}")
            page.wait_for_function("window.live.started || window.live.error", timeout=30_000)
            assert "error" not in page.evaluate("window.live"), page.evaluate("window.live.error")
            page.wait_for_function("window.live.opens === 1", timeout=30_000)
            assert page.evaluate("window.publish('Before the restart')") == 201
            assert [m["title"] for m in received(page, 1)] == ["Before the restart"]

            # The server goes away (ending the stream) and comes back on the same port and data. The page's
            # EventSource reconnects by itself, with the same URL (its ticket still valid) and Last-Event-ID;
            # its attempts fail until the article below is written, so only that id can bring it.
            page.route("**/v1/stream?*", lambda route: route.abort())
            server.stop()
            server.start()
            assert page.evaluate("window.publish('While the page was reconnecting')") == 201
            page.unroute("**/v1/stream?*")
            page.wait_for_function("window.live.opens === 2", timeout=30_000)
            assert page.evaluate("window.publish('After the reconnect')") == 201
            messages = received(page, 3)
            live = page.evaluate("window.live")
        finally:
            page.close()

    assert live["ticket"]["status"] == 201 and live["ticket"]["expiresAt"]
    assert [m["title"] for m in messages] == ["Before the restart", "While the page was reconnecting",
                                              "After the reconnect"]
    assert len({m["id"] for m in messages}) == 3
    assert live["errors"] >= 1  # the restart was seen as an error, then the same EventSource reconnected
