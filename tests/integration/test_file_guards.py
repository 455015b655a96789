"""Files that guard themselves (issue 13 item 5): a wrong path or another release never erases data.

The store opens only a store file, the log only a log file, a store of another layout is left
whole until `tribe replay --all` is asked to rebuild it, and that refuses while any other
process has the store open. Everything here runs on real SQLite files.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from events.adapters.sqlite_files import STORE_FILE, ForeignFile
from events.adapters.sqlite_log import SqliteLog
from events.catalogue import UserRegistered
from events.log import Record
from events.routing import USERS
from projections.adapters.sqlite_store import LAYOUT, OtherLayout, SqliteStore, StoreInUse, reset_layout
from projections.store import Checkpoint, CollectionSpec, DocWrite
from tests.sealed import records_of_events, sealed_codec
from tribe.bootstrap import make_store
from tribe.cli import main
from tribe.settings import BadSetting, Settings

SPEC = CollectionSpec({"kind": "keyword"})


def tribe(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as an operator runs it (its logging set-up stays there)."""
    env = {**os.environ, "TRIBE_LOG_FORMAT": "json"}
    return subprocess.run([sys.executable, "-m", "tribe", *args], capture_output=True, text=True, env=env, timeout=120)


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def header(path: Path) -> tuple[int, int]:
    """(application_id, user_version)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA application_id").fetchone()[0], conn.execute("PRAGMA user_version").fetchone()[0]


def set_header(path: Path, *, application_id: int | None = None, layout: int | None = None) -> None:
    """What another release's file looks like: a store without the stamp, or of another layout."""
    conn = sqlite3.connect(path, isolation_level=None)
    if application_id is not None:
        conn.execute(f"PRAGMA application_id={application_id}")
    if layout is not None:
        conn.execute(f"PRAGMA user_version={layout}")
    conn.close()


async def a_store_with_a_document(path: Path) -> None:
    store = SqliteStore(path)
    await store.ensure_collection("items_v1", SPEC)
    await store.write([DocWrite("items_v1", "d1", 1, {"kind": "a"})], Checkpoint("items_v1", {("t", 0): 1}))
    await store.close()


async def test_a_store_pointed_at_the_log_refuses_it_and_the_log_keeps_every_event(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = SqliteLog(path)
    positions = await log.append([Record(USERS, 0, b"u1", f"event {n}".encode(), f"e{n}") for n in range(3)])
    await log.close()
    with pytest.raises(ForeignFile, match="is the event log, not a read store"):
        SqliteStore(path)
    log = SqliteLog(path)
    try:
        assert [e.position for e in await log.read(USERS, 0, 0, 10)] == positions
    finally:
        await log.close()


async def test_the_log_refuses_a_store_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await a_store_with_a_document(path)
    before = tables(path)
    with pytest.raises(ForeignFile, match="is a read store, not the event log"):
        SqliteLog(path)
    assert tables(path) == before


async def test_one_path_for_both_is_refused_by_the_second_to_open_it(tmp_path: Path) -> None:
    path = tmp_path / "both.db"
    log = SqliteLog(path)
    try:
        with pytest.raises(ForeignFile):
            SqliteStore(path)
    finally:
        await log.close()


def test_another_programs_database_and_a_file_that_is_not_sqlite_are_refused_and_left_as_they_are(
    tmp_path: Path,
) -> None:
    theirs = tmp_path / "notes.db"
    with contextlib.closing(sqlite3.connect(theirs, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    text = tmp_path / "notes.txt"
    text.write_text("not a database, " * 100)
    with pytest.raises(ForeignFile, match="another program's tables"):
        SqliteStore(theirs)
    with pytest.raises(ForeignFile, match="another program's tables"):
        SqliteLog(theirs)
    with pytest.raises(ForeignFile, match="not a SQLite database"):
        SqliteStore(text)
    with contextlib.closing(sqlite3.connect(theirs)) as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
        assert conn.execute("PRAGMA application_id").fetchone() == (0,)
    assert text.read_text() == "not a database, " * 100


@pytest.mark.parametrize("layout", [LAYOUT - 1, LAYOUT + 1], ids=["older", "newer"])
async def test_a_store_of_another_layout_is_refused_and_left_whole(tmp_path: Path, layout: int) -> None:
    """Before: opening it dropped every table, under the running server of the other release."""
    path = tmp_path / "store.db"
    await a_store_with_a_document(path)
    set_header(path, layout=layout)
    before = tables(path)
    with pytest.raises(OtherLayout, match="tribe replay --all"):
        SqliteStore(path)
    assert tables(path) == before and header(path) == (STORE_FILE, layout)
    settings = Settings(data_dir=tmp_path, store_url=f"sqlite:///{path}")
    with pytest.raises(BadSetting, match="TRIBE_STORE"):
        make_store(settings)


async def test_a_store_an_earlier_release_made_is_recognised_and_stamped(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await a_store_with_a_document(path)
    set_header(path, application_id=0)
    store = SqliteStore(path)
    try:
        assert (await store.get("items_v1", ["d1"]))["d1"].body == {"kind": "a"}
    finally:
        await store.close()
    assert header(path) == (STORE_FILE, LAYOUT)


async def test_resetting_a_layout_waits_for_every_other_process_to_let_go(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await a_store_with_a_document(path)
    set_header(path, layout=LAYOUT - 1)
    running = sqlite3.connect(path)  # the older release's server, between two requests
    running.execute("SELECT count(*) FROM checkpoints").fetchone()
    with pytest.raises(StoreInUse, match="open in another process"):
        reset_layout(path)
    assert "c_items_v1" in tables(path)
    running.close()
    assert reset_layout(path) == LAYOUT - 1
    assert tables(path) == set() and header(path) == (STORE_FILE, LAYOUT)
    assert reset_layout(path) is None  # this layout: nothing to reset
    await SqliteStore(path).close()


def test_a_store_of_this_layout_is_never_reset(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    asyncio.run(a_store_with_a_document(path))
    assert reset_layout(path) is None
    assert "c_items_v1" in tables(path)


def test_replay_all_rebuilds_an_older_layouts_store_from_the_log_once_nobody_has_it_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    registered = UserRegistered(
        event_id="e-ann", actor_id="u-ann", occurred_at=1_700_000_000_000, username="ann", email="a@x.io",
        password_hash="h",
    )

    async def fill() -> None:
        log = SqliteLog(data / "log.db")
        await log.append(await records_of_events(sealed_codec(), [registered]))
        await log.close()
        await a_store_with_a_document(data / "store.db")

    asyncio.run(fill())
    set_header(data / "store.db", layout=LAYOUT - 1)
    running = sqlite3.connect(data / "store.db")
    running.execute("SELECT count(*) FROM checkpoints").fetchone()
    refused = tribe("replay", "--all", "--data-dir", str(data))
    assert refused.returncode == 1 and "open in another process" in refused.stderr, refused.stderr
    assert "c_items_v1" in tables(data / "store.db")
    running.close()

    rebuilt = tribe("replay", "--all", "--data-dir", str(data))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"emptied a store of layout {LAYOUT - 1}" in rebuilt.stdout

    async def users() -> dict[str, object]:
        store = SqliteStore(data / "store.db")
        try:
            return {doc_id: doc.body["username"] for doc_id, doc in (await store.get("users", ["u-ann"])).items()}
        finally:
            await store.close()

    assert asyncio.run(users()) == {"u-ann": "ann"}
    assert "c_items_v1" not in tables(data / "store.db")


def test_replay_all_takes_no_view_and_no_other_build_option(tmp_path: Path) -> None:
    """Refused before anything is opened (or logging set up, which CliRunner would leave behind)."""
    for args in (["users"], ["--verify"], ["--dry-run"], ["--version", "2"]):
        result = CliRunner().invoke(main, ["replay", "--all", *args, "--data-dir", str(tmp_path)])
        assert result.exit_code == 2 and "--all rebuilds every view" in result.output, (args, result.output)


def _open_at_once(kind: str, path: str, start: Any) -> None:
    start.wait()
    opened = SqliteStore(Path(path)) if kind == "store" else SqliteLog(Path(path))
    asyncio.run(opened.close())


@pytest.mark.parametrize("kind", ["store", "log"])
def test_processes_starting_on_one_new_file_at_once_all_open_it(tmp_path: Path, kind: str) -> None:
    """A server and its worker started together on a new data directory: neither meets "database is locked"."""
    context = multiprocessing.get_context("fork")
    failed = []
    for attempt in range(25):
        path = tmp_path / f"{attempt}.db"
        start = context.Barrier(4)
        openers = [context.Process(target=_open_at_once, args=(kind, str(path), start)) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
        failed += [opener.exitcode for opener in openers if opener.exitcode != 0]
    assert failed == []
