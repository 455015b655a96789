"""Debian's chromium driven by Playwright, and a static site served from an origin of its own."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SITE = Path(__file__).parent / "site"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """A headless chromium, or a skip that says why there is none (scripts/debian-packages installs it) or why
    it cannot start.

    Module-scoped: Playwright's sync API runs an event loop on the main thread for as long as it is
    open, and every asyncio test after it would find that loop running.
    """
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed, so no browser can be driven: pip install 'playwright>=1.40'")
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: run scripts/debian-packages (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.skip(f"chromium at {CHROMIUM} cannot be launched: {exc.message.strip().splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The test's output stays the test's."""


@pytest.fixture
def site() -> Iterator[str]:
    """tests/browser/site over HTTP on 127.0.0.1, on a port of its own: an origin other than the API's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
