"""The embedded key store: one SQLite file of wrapped data keys (events/keys.py).

Deletion must leave no copy of a key in the file: `secure_delete` overwrites a deleted row's
bytes, and the rollback journal (not WAL, whose frames would keep the old page until a
checkpoint) is removed once each transaction commits. Several processes on one host share the
file (`tribe serve`, `tribe replay`, workers), each through its own connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from events.adapters.sqlite_files import KEYS_FILE, claim, create_private, transaction
from events.keys import KeyDestroyed, KeyStore, KeyStoreUnavailable, StoredKeys

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    owner   TEXT PRIMARY KEY,
    wrapped BLOB           -- NULL: destroyed
) WITHOUT ROWID
"""


class SqliteKeyStore(KeyStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        self._path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            # Claimed before journal_mode is set: that pragma reads the file (and rewrites the header
            # of a WAL-mode log), so on a foreign file it would fail or change it before claim refuses it.
            claim(
                self._conn,
                path,
                KEYS_FILE,
                made_by_earlier_release=lambda names: False,
                hint="TRIBE_KEY_STORE names the key store, a file of its own",
            )
        except BaseException:
            self._conn.close()
            raise
        self._conn.execute("PRAGMA journal_mode=DELETE")
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA synchronous=FULL")
        with transaction(self._conn):
            self._conn.execute(_SCHEMA)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keys")

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        except sqlite3.OperationalError as exc:
            raise KeyStoreUnavailable(f"{self._path}: {exc}") from exc

    async def get(self, owners: Collection[str]) -> StoredKeys:
        wanted = list(dict.fromkeys(owners))

        def read() -> StoredKeys:
            wrapped: dict[str, bytes] = {}
            destroyed: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for owner, key in self._conn.execute(
                    f"SELECT owner, wrapped FROM data_keys WHERE owner IN ({marks})", chunk
                ):
                    if key is None:
                        destroyed.add(owner)
                    else:
                        wrapped[owner] = bytes(key)
            return StoredKeys(wrapped, frozenset(destroyed))

        return await self._run(read) if wanted else StoredKeys({}, frozenset())

    async def put_new(self, owner: str, wrapped: bytes) -> bytes:
        def insert() -> bytes:
            with transaction(self._conn):
                self._conn.execute("INSERT OR IGNORE INTO data_keys (owner, wrapped) VALUES (?, ?)", (owner, wrapped))
                (kept,) = self._conn.execute("SELECT wrapped FROM data_keys WHERE owner = ?", (owner,)).fetchone()
            if kept is None:
                raise KeyDestroyed(owner)
            return bytes(kept)

        return await self._run(insert)

    async def destroy(self, owner: str) -> None:
        def delete() -> None:
            with transaction(self._conn):
                self._conn.execute(
                    "INSERT INTO data_keys (owner, wrapped) VALUES (?, NULL)"
                    " ON CONFLICT (owner) DO UPDATE SET wrapped = NULL",
                    (owner,),
                )

        await self._run(delete)

    async def close(self) -> None:
        await self._run(self._conn.close)
        self._thread.shutdown(wait=True)
