"""The services without HTTP, on the real embedded adapters, with the projection held back at will.

The embedded runtime is not started: `project()` runs one pass of it, so a test decides when the
read models catch up and can check what a service does while they are behind. A test module
subclasses World with its own steps and opens it with `opened`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from events.adapters.sqlite_log import SqliteLog
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.progress import Progress
from projections.views import VIEWS
from services import accounts
from services.outcome import Outcome, Pending
from services.ports import Ports
from tests.sealed import sealed_codec
from tribe.bootstrap import build_ports
from tribe.settings import Settings


class World:
    """Ports over real SQLite files, and the runtime that projects only when asked."""

    def __init__(self, ports: Ports, runtime: EmbeddedRuntime) -> None:
        self.ports = ports
        self.runtime = runtime

    async def project(self) -> None:
        await self.runtime.run_once()

    async def user(self, name: str) -> str:
        await accounts.register(self.ports, accounts.Register(name, f"{name}@example.com", "long-enough-pw"))
        await self.project()
        user = await self.ports.reads.user_by("username", name)
        assert user is not None
        return str(user["user_id"])


T = TypeVar("T")
W = TypeVar("W", bound=World)


@asynccontextmanager
async def opened(tmp_path: Path, world: type[W]) -> AsyncIterator[W]:
    """A `world` over a new log and store in `tmp_path`, writes waiting 50 ms for the views."""
    settings = Settings(data_dir=tmp_path, jwt_secret="s" * 48, write_wait=0.05, registration_wait=0.05)
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    codec = sealed_codec()
    await install(store, VIEWS)
    try:
        ports = build_ports(settings, log, store, codec, Progress(store, VIEWS))
        yield world(ports, EmbeddedRuntime(log, store, codec, VIEWS))
    finally:
        await log.close()
        await store.close()


def pending(outcome: Outcome[T]) -> Pending[T]:
    assert isinstance(outcome, Pending), outcome
    return outcome
