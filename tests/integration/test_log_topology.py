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
from events.ids import new_event_id
from events.log import Record
from events.routing import ARTICLES, DEFAULT_TOPOLOGY, Topology, murmur2
from projections.adapters.sqlite_store import SqliteStore
from services.log_copy import CopyRefused, copy_log
from tests.sealed import records_of_events, sealed_codec
from tribe.bootstrap import logs_to_copy, make_log
from tribe.settings import BadSetting, Settings

THREE_TEXT = "tribe.articles=3"
THREE = Topology.parse(THREE_TEXT)


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
        written = await log.append(await records_of_events(sealed_codec(), [publish(n) for n in range(6)]))
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


async def test_a_copy_routes_every_entry_by_the_new_counts_bytes_that_are_no_event_included(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    old_path, new_path = tmp_path / "old.db", tmp_path / "new.db"
    written = await log_with_articles(old_path)
    old = SqliteLog(old_path)
    poison = Record(ARTICLES, 5, b"poison-key", b"these bytes are no event", "poison")
    await old.append([poison])
    claimed = [await old.claim_id_block() for _ in range(3)]
    await old.close()

    install_topology(THREE)
    old, new = SqliteLog(old_path, DEFAULT_TOPOLOGY), SqliteLog(new_path)
    seen: list[tuple[str, int, int]] = []
    try:
        copied = await copy_log(old, DEFAULT_TOPOLOGY, new, sealed_codec(), on_partition=lambda *p: seen.append(p))
        assert (copied.events, copied.undecodable) == (len(written), 1)
        assert copied.id_block > max(claimed) and await new.claim_id_block() > copied.id_block
        assert len(seen) == sum(n for _, n in DEFAULT_TOPOLOGY.counts)
        entries = [e for p in range(3) for e in await new.read(ARTICLES, p, 0, 100)]
        assert len(entries) == len(written) + 1
        for entry in entries:
            assert entry.position.partition == (murmur2(entry.key) & 0x7FFFFFFF) % 3
        assert b"these bytes are no event" in {e.value for e in entries}
        with pytest.raises(CopyRefused):
            await copy_log(old, DEFAULT_TOPOLOGY, new, sealed_codec(), on_partition=lambda *p: None)
    finally:
        await old.close()
        await new.close()


@pytest.mark.parametrize(
    ("old", "counts", "complaint"),
    [
        ("new.db", "", "--from: sqlite:///{dir}/new.db is the log to copy into (TRIBE_LOG): name another"),
        ("old.db", THREE_TEXT, "--from-partitions: the log {dir}/old.db was created with tribe.articles=8, not "),
        ("store.db", "", "--from: {dir}/store.db is a read store, not the event log"),
    ],
)
async def test_a_copy_refuses_the_new_log_itself_and_an_old_log_of_other_counts(
    old: str, counts: str, complaint: str, tmp_path: Path
) -> None:
    await log_with_articles(tmp_path / "old.db")
    await SqliteStore(tmp_path / "store.db").close()
    settings = Settings(log_url=f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(BadSetting) as refused:
        async with logs_to_copy(settings, f"sqlite:///{tmp_path / old}", Topology.parse(counts)):
            pass
    assert str(refused.value).startswith(complaint.format(dir=tmp_path)), refused.value
