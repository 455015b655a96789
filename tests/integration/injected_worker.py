"""`python -m tests.integration.injected_worker slow|failing MARKER`: `tribe worker` over a store that misbehaves.

The worker is the real one (`tribe.bootstrap.run_worker`, the engine named by TRIBE_WORKER_ENGINE,
every other setting from TRIBE_*), over the SQLite store the settings name, wrapped:

- `slow`: every write that carries a checkpoint touches MARKER, then takes 3 s before it starts,
  so a test can signal the worker while a store write is in progress;
- `failing`: the third and fourth such writes fail after the worker handed them over, their
  transaction rolled back (the SQLite store writes documents and checkpoint in one), and
  MARKER gets a line per failure.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from projections.adapters.sqlite_store import SqliteStore
from projections.store import Checkpoint, DocWrite
from tribe.bootstrap import run_worker
from tribe.logs import configure_logging
from tribe.settings import Settings


class SlowStore(SqliteStore):
    def __init__(self, path: Path, marker: Path) -> None:
        super().__init__(path)
        self.marker = marker

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if checkpoint.offsets:
            self.marker.touch()
            await asyncio.sleep(3.0)
        await super().write(writes, checkpoint)


class FailingStore(SqliteStore):
    def __init__(self, path: Path, marker: Path) -> None:
        super().__init__(path)
        self.marker = marker
        self.writes = 0

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if checkpoint.offsets:
            self.writes += 1
            if self.writes in (3, 4):
                with self.marker.open("a") as failures:
                    failures.write(f"write {self.writes}: {len(writes)} documents refused\n")
                raise ConnectionError("the store dropped the connection during a bulk write")
        await super().write(writes, checkpoint)


def main() -> None:
    kind, marker = sys.argv[1], Path(sys.argv[2])
    settings = Settings.from_env()
    configure_logging(settings)
    path = Path(settings.store.removeprefix("sqlite:///"))
    store = SlowStore(path, marker) if kind == "slow" else FailingStore(path, marker)
    run_worker(settings, store=store)


if __name__ == "__main__":
    main()
