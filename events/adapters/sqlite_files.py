"""Which SQLite files are whose, and transactions that end on every path.

Every tribestream file names its kind in its header (`PRAGMA application_id`). The embedded
log and the SQLite store open only a file of their own kind: one they stamped when they found
it empty, or one an earlier release made without the stamp, recognised by its tables and
stamped then. The other kind's file, another program's database and a file that is not SQLite
are refused before anything in them changes: a mistyped path can no longer erase a log.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOG_FILE = 0x54524C47
"""The embedded event log ("TRLG")."""
STORE_FILE = 0x54525354
"""A SQLite read store ("TRST")."""
KEYS_FILE = 0x54524B59
"""The users' data keys ("TRKY")."""
_KINDS = {LOG_FILE: "the event log", STORE_FILE: "a read store", KEYS_FILE: "the key store"}


def create_private(path: Path) -> None:
    """Create the file for its owner only (0600) unless it exists: logs, stores and key stores hold what
    no one else may read. SQLite opens it afterwards, and gives the files it creates beside it (-wal,
    -shm, -journal) the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def use_wal(conn: sqlite3.Connection, *, timeout: float = 30.0) -> None:
    """Put the file in write-ahead-log mode, waiting while another process does the same to a new file.

    Changing the journal mode needs the file to itself, and SQLite answers "database is locked"
    at once, without its busy handler, when another connection is between reading and changing
    the header: two processes starting on one new store (a server and its worker) both meet it.
    The mode is kept in the file, so once one of them has set it the others' calls change nothing.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class ForeignFile(RuntimeError):
    """The file is not of the kind asked for; nothing in it was changed."""


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """A transaction committed when the block ends and rolled back when anything in it (or the commit) fails.

    SQLite itself rolls back after some errors (a full disk, an I/O error); the rollback here then
    has nothing left to do, and the caller sees the first error, not a failed ROLLBACK.
    """
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def data_version(conn: sqlite3.Connection) -> int:
    """A counter that differs from the last one `conn` read whenever another connection has committed a change to
    the file since: a writer in this process (its own connection) or in any other. Reading it costs next to nothing,
    so a reader keeps what it computed until it moves."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def kind_of(found: int) -> str:
    return _KINDS.get(found, f"another program's database (application_id {found:#x})")


def claim(
    conn: sqlite3.Connection,
    path: Path,
    kind: int,
    *,
    made_by_earlier_release: Callable[[set[str]], bool],
    layout: int | None = None,
    hint: str,
) -> None:
    """Make sure `path` holds a file of `kind`, stamping it when it is empty or an earlier release's.

    `made_by_earlier_release` recognises an unstamped file by its tables. An empty file is also
    given `layout` (PRAGMA user_version) in the same transaction, so a process that opens it at
    the same moment sees both or neither. Raises ForeignFile, naming what the file is and `hint`.
    """
    wanted = _KINDS[kind]
    try:
        with transaction(conn):
            (found,) = conn.execute("PRAGMA application_id").fetchone()
            if found == kind:
                return
            if found != 0:
                raise ForeignFile(f"{path} is {kind_of(found)}, not {wanted}: {hint}; nothing in it was changed")
            names = table_names(conn)
            if names and not made_by_earlier_release(names):
                shown = ", ".join(sorted(names)[:5])
                raise ForeignFile(
                    f"{path} holds another program's tables ({shown}), not {wanted}: {hint}; nothing in it was changed"
                )
            conn.execute(f"PRAGMA application_id={kind}")
            if not names and layout is not None:
                conn.execute(f"PRAGMA user_version={layout}")
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_NOTADB:
            raise
        raise ForeignFile(f"{path} is not a SQLite database, not {wanted}: {hint}") from exc
