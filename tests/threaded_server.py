"""An aiohttp application served on 127.0.0.1 from a thread of the test's own process.

For tests that drive it from synchronous code on this thread (Playwright, a subprocess such as
wrk) and need to reach into it while it serves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from tests.e2e.server import free_port


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """The application's base URL while it serves, its event loop in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tribe-serve", daemon=True)
    thread.start()
    runner = web.AppRunner(app)
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
