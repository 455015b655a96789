"""A log shared by processes (`tribe serve --processes`): a follower wakes on appends through another connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.log import Record
from events.routing import ARTICLES


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
