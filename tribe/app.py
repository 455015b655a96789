"""The composition root of the API process: settings in, a wired aiohttp application out."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from aiohttp import web

from api.app import build_app
from api.context import Services
from api.security import Tokens
from api.writer import EventWriter
from events.adapters.sqlite_log import SqliteLog
from events.codec import EventCodec
from events.log import Log
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.progress import Progress
from projections.queries import ReadModels, SocialReads
from projections.store import Store
from projections.views import VIEWS
from tribe.settings import Settings
from tribe.wiring import jwt_secret, make_log, make_store


def create_app(settings: Settings, *, log: Log | None = None, store: Store | None = None) -> web.Application:
    """The API over the log and store the settings name (or the ones given, for tests).

    With the embedded log, the reducers run inside this process; with Kafka, `tribe worker`
    processes run them and this process only reads their checkpoints from the store.
    """
    log = log or make_log(settings)
    store = store or make_store(settings)
    codec = EventCodec()
    runtime = None
    if isinstance(log, SqliteLog):
        runtime = EmbeddedRuntime(log, store, codec, VIEWS, wakeup=log.watch())
    # Without an in-process runtime to wake it, a write polls the store's checkpoints: every 10 ms on
    # SQLite (a local read), every 50 ms on a networked store, where each poll is a request.
    poll = 0.01 if isinstance(store, SqliteStore) else 0.05
    progress = Progress(store, VIEWS, advanced=(lambda: runtime.advanced) if runtime else None, poll=poll)
    services = Services(
        writer=EventWriter(log, codec, progress, settings.write_wait),
        reads=ReadModels(store),
        social=SocialReads(store),
        tokens=Tokens(jwt_secret(settings), settings.token_ttl),
    )
    app = build_app(services)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await install(store, VIEWS)
        task = asyncio.create_task(runtime.run(), name="embedded-runtime") if runtime else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await log.close()
        await store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
