"""The worker's consumer waits at most `fetch_wait` in a fetch (Faust's driver fixes 1,500 ms)."""

from __future__ import annotations

from pathlib import Path

from events.adapters.sqlite_log import SqliteLog
from projections.faust_worker import Ownership, WorkerOptions, create_app

OPTIONS = WorkerOptions(app_id="fetch-wait", session_timeout=10.0, fetch_wait=0.05)


async def test_the_worker_consumer_fetches_with_the_configured_wait(tmp_path: Path) -> None:
    ownership = Ownership(SqliteLog(tmp_path / "log.db"), OPTIONS.app_id, [])
    app = create_app("127.0.0.1:9", ownership, datadir=tmp_path, options=OPTIONS)
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)  # built, not started: no broker needed
    assert consumer._fetch_max_wait_ms == 50
