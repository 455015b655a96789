"""`python -m tests.integration.injected_worker KIND [ARGUMENT]`: `tribe worker` over a store or views that misbehave.

The worker is the real one (`tribe.bootstrap.run_worker`, the engine named by TRIBE_WORKER_ENGINE,
every other setting from TRIBE_*), over the SQLite store the settings name, wrapped:

- `slow`: every write that carries a checkpoint touches MARKER, then takes 3 s before it starts,
  so a test can signal the worker while a store write is in progress;
- `failing`: the third and fourth such writes of a view (not of the runners: the fan-out, the
  classifier and the erasure keep checkpoints too) fail after the worker handed them over, their
  transaction rolled back (the SQLite store writes documents and checkpoint in one), and MARKER
  gets a line per failure;
- `notifications-down`: every write of the notifications view fails while the file MARKER exists;
- `journal`: every write of the articles view starts 2 s after it is asked for, and appends a line to
  MARKER (JSON: this process, the projection, the partitions of its checkpoint, when it was asked for
  and when it ended), so a test can see which worker wrote which partition when;

or with the views of tests/integration/faulty_views.py:

- `faulty FAULT`: the application's views with that fault (`undecodable`: none; `reducer`, `refused`);
- `old-code`: the views of an older release (`old_code_views`: the articles view's code differs).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from projections.adapters.sqlite_store import SqliteStore
from projections.store import Checkpoint, DocWrite
from projections.views import VIEWS
from tests.integration.faulty_views import faulty_views, old_code_views
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
        if checkpoint.offsets and any(checkpoint.projection.startswith(f"{view.name}_v") for view in VIEWS):
            self.writes += 1
            if self.writes in (3, 4):
                with self.marker.open("a") as failures:
                    failures.write(f"write {self.writes}: {len(writes)} documents refused\n")
                raise ConnectionError("the store dropped the connection during a bulk write")
        await super().write(writes, checkpoint)


class NotificationsDown(SqliteStore):
    def __init__(self, path: Path, marker: Path) -> None:
        super().__init__(path)
        self.marker = marker

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if checkpoint.projection.startswith("notifications") and self.marker.exists():
            raise ConnectionError("the notifications index does not answer")
        await super().write(writes, checkpoint)


class JournalStore(SqliteStore):
    def __init__(self, path: Path, journal: Path) -> None:
        super().__init__(path)
        self.journal = journal

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if not (checkpoint.offsets and checkpoint.projection.startswith("articles_v")):
            await super().write(writes, checkpoint)
            return
        started = time.time()
        await asyncio.sleep(2.0)
        await super().write(writes, checkpoint)
        line = {"pid": os.getpid(), "projection": checkpoint.projection, "started": started, "ended": time.time(),
                "partitions": sorted(f"{t}:{p}" for t, p in checkpoint.offsets)}
        with self.journal.open("a") as journal:
            journal.write(json.dumps(line) + "\n")


STORES = {"slow": SlowStore, "failing": FailingStore, "notifications-down": NotificationsDown, "journal": JournalStore}


def main() -> None:
    kind = sys.argv[1]
    settings = Settings.from_env()
    configure_logging(settings)
    path = Path(settings.store.removeprefix("sqlite:///"))
    if kind == "faulty":
        run_worker(settings, views=faulty_views(sys.argv[2]))
    elif kind == "old-code":
        run_worker(settings, views=old_code_views())
    else:
        run_worker(settings, store=STORES[kind](path, Path(sys.argv[2])), views=VIEWS)


if __name__ == "__main__":
    main()
