"""The embedded log keeps the partition counts it was created with and refuses to open under others.

A new count would move keys between partitions: a document's later events would follow its earlier
ones in another partition, and versions from two offset sequences would not compare.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from events.adapters.sqlite_log import OtherTopology, SqliteLog
from events.catalogue import ArticlePublished
from events.codec import EventCodec
from events.ids import new_event_id
from events.routing import ARTICLES, DEFAULT_TOPOLOGY, Topology
from services.writer import records_of
from tribe.bootstrap import make_log
from tribe.settings import BadSetting, Settings

THREE = Topology.of({ARTICLES: 3})


def publish(n: int) -> ArticlePublished:
    return ArticlePublished(
        event_id=new_event_id(), actor_id="u1", occurred_at=1_000, article_id=f"a{n}", slug=f"t{n}",
        title=f"t{n}", description="d", body="b",
    )


def kept(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT topic, count FROM partitions").fetchall())


async def log_with_articles(path: Path) -> list[tuple[int, int]]:
    """A log with a few articles appended under the installed topology: their (partition, offset)s."""
    log = SqliteLog(path)
    try:
        written = await log.append(records_of([publish(n) for n in range(6)], EventCodec()))
    finally:
        await log.close()
    return [(p.partition, p.offset) for p in written]


async def test_a_log_keeps_the_counts_it_was_created_with_and_refuses_others(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    path = tmp_path / "log.db"
    install_topology(THREE)
    written = await log_with_articles(path)
    assert {partition for partition, _ in written} <= {0, 1, 2}
    assert kept(path) == dict(THREE.counts)

    install_topology(DEFAULT_TOPOLOGY)
    with pytest.raises(OtherTopology, match=re.escape("with tribe.articles=3, not tribe.articles=8")) as refused:
        SqliteLog(path)
    assert "set TRIBE_PARTITIONS=tribe.articles=3," in str(refused.value)
    assert kept(path) == dict(THREE.counts)
    install_topology(Topology.of({ARTICLES: 5}))
    with pytest.raises(OtherTopology, match=re.escape("not tribe.articles=5")):
        SqliteLog(path)

    install_topology(THREE)
    log = SqliteLog(path)
    try:
        entries = [e for p in range(3) for e in await log.read(ARTICLES, p, 0, 100)]
        assert sorted((e.position.partition, e.position.offset) for e in entries) == sorted(written)
    finally:
        await log.close()


async def test_a_log_made_before_the_counts_were_kept_holds_the_defaults(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    path = tmp_path / "log.db"
    await log_with_articles(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE partitions")  # what an earlier release's log looks like

    install_topology(THREE)
    with pytest.raises(OtherTopology, match=re.escape("with tribe.articles=8, not tribe.articles=3")) as refused:
        SqliteLog(path)
    assert "unset TRIBE_PARTITIONS" in str(refused.value)
    install_topology(DEFAULT_TOPOLOGY)
    await SqliteLog(path).close()
    assert kept(path) == dict(DEFAULT_TOPOLOGY.counts)


async def test_an_empty_log_takes_the_counts_of_the_first_process_that_opens_it(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    path = tmp_path / "log.db"
    await SqliteLog(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE partitions")  # an earlier release's log that holds no event yet
    install_topology(THREE)
    await SqliteLog(path).close()
    assert kept(path) == dict(THREE.counts)


async def test_the_composition_root_names_the_setting_that_disagrees_with_the_log(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    install_topology(THREE)
    await SqliteLog(tmp_path / "log.db").close()
    install_topology(DEFAULT_TOPOLOGY)
    with pytest.raises(BadSetting, match=r"^TRIBE_PARTITIONS: the log .* was created with tribe.articles=3"):
        make_log(Settings(data_dir=tmp_path))
