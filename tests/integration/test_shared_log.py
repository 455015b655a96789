"""A log shared by processes (`tribe serve --processes`): a follower wakes on appends through another connection;
the runners of the embedded log wake on its appends."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from events.adapters import sqlite_log
from events.adapters.sqlite_log import SqliteLog
from events.log import Record
from events.routing import ARTICLES
from projections.adapters.sqlite_store import SqliteStore
from tests.sealed import sealed_codec
from tribe.bootstrap import erasure_runner, fanout_runner, moderation_runner
from tribe.settings import Settings


def record(n: int) -> Record:
    return Record(topic=ARTICLES, partition=0, key=f"article-{n}".encode(), value=b"bytes", event_id=f"event-{n}")


@pytest.mark.parametrize("shared", [True, False])
async def test_a_follower_wakes_on_another_connections_append_only_when_the_log_is_shared(
    tmp_path: Path, shared: bool
) -> None:
    """Two logs on one file stand for two processes: SQLite tells each connection of the other's commits alike."""
    path = tmp_path / "log.db"
    writer, follower = SqliteLog(path), SqliteLog(path, shared=shared)
    try:
        woken = follower.watch()
        await asyncio.sleep(0.05)  # the watch has seen the file as it is
        await writer.append([record(1)])
        try:
            async with asyncio.timeout(1.0):
                await woken.wait()
            was_woken = True
        except TimeoutError:
            was_woken = False
        assert was_woken is shared
    finally:
        await writer.close()
        await follower.close()


async def test_a_quiet_shared_log_is_looked_at_seldom_and_a_change_still_wakes_the_follower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looks (reads of data_version) back off to OTHERS_POLL_QUIET while nothing changes: at OTHERS_POLL
    throughout, half a second would hold a hundred."""
    looks: list[float] = []
    real = sqlite_log.data_version

    def counted(conn: sqlite3.Connection) -> int:
        looks.append(time.monotonic())
        return real(conn)

    monkeypatch.setattr(sqlite_log, "data_version", counted)
    path = tmp_path / "log.db"
    writer, follower = SqliteLog(path), SqliteLog(path, shared=True)
    try:
        woken = follower.watch()
        await asyncio.sleep(0.5)
        assert 0 < len(looks) <= 0.5 / sqlite_log.OTHERS_POLL_QUIET + 5
        await writer.append([record(1)])
        async with asyncio.timeout(1.0):
            await woken.wait()
    finally:
        await writer.close()
        await follower.close()


def test_the_pause_between_looks_doubles_while_quiet_and_starts_over_after_a_change() -> None:
    pause, pauses = sqlite_log.OTHERS_POLL, []
    for changed in (False, False, False, False, False, True, False):
        pause = sqlite_log.next_look(pause, changed)
        pauses.append(pause)
    p, q = sqlite_log.OTHERS_POLL, sqlite_log.OTHERS_POLL_QUIET
    assert pauses == [2 * p, 4 * p, 8 * p, q, q, p, 2 * p]


async def test_the_runners_of_the_embedded_log_are_woken_by_its_appends(tmp_path: Path) -> None:
    """Each idle runner waits for the log's wake-up (events/log.py `until_appended`), not a 50 ms poll."""
    settings = Settings.from_env()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    codec = sealed_codec()
    try:
        runners = [make(settings, log, store, codec) for make in (fanout_runner, erasure_runner, moderation_runner)]
        wakeups = [runner.wakeup for runner in runners]
        assert all(wakeup is not None and not wakeup.is_set() for wakeup in wakeups)
        await log.append([record(1)])
        assert all(wakeup is not None and wakeup.is_set() for wakeup in wakeups)
    finally:
        await log.close()
        await store.close()
