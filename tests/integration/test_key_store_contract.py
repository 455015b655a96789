"""The behaviour of the KeyStore port (events/keys.py), written once and run on every adapter.

SQLite runs on a file of the test's own; Redis on a real redis-server the test starts with the
production settings (AOF, fsync on every write, tests/redis_server.py). Stores are built by
`key_store_for`, as the composition root builds them, and a second store on the same data
stands for another process; where it matters, another process is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import coredis
import pytest

from events.adapters.key_stores import key_store_for
from events.adapters.redis_keys import RedisKeyStore, RedisNotDurable
from events.adapters.sqlite_files import ForeignFile
from events.adapters.sqlite_log import SqliteLog
from events.keys import KeyDestroyed, KeyStore, KeyStoreUnavailable, StoredKeys
from projections.adapters.sqlite_store import SqliteStore
from tests.kafka_broker import free_port
from tests.redis_server import EVERY_WRITE_FSYNCED, NO_PERSISTENCE, RedisServer


class Backend:
    """Where one adapter keeps its keys: `open` gives another store on the same data."""

    def __init__(self, url: str, data_dir: Path, redis: RedisServer | None = None) -> None:
        self.url = url
        self.data_dir = data_dir
        self.redis = redis

    def open(self) -> KeyStore:
        return key_store_for(self.url, self.data_dir)

    def crash_and_restart(self) -> None:
        """For Redis, the server dies (SIGKILL) and starts again from its files; a SQLite file has no server."""
        if self.redis is not None:
            self.redis.kill()
            self.redis.start()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("", tmp_path / "data")
        return
    server = RedisServer(tmp_path / "redis", EVERY_WRITE_FSYNCED).start()
    try:
        yield Backend(server.url, tmp_path / "data", server)
    finally:
        server.stop()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[KeyStore]:
    opened = backend.open()
    try:
        yield opened
    finally:
        await opened.close()


def a_key(n: int) -> bytes:
    """A wrapped key as the sealing code makes them: 40 bytes that occur nowhere else."""
    return os.urandom(32) + n.to_bytes(8, "big")


async def test_owners_without_a_key_get_nothing(store: KeyStore) -> None:
    assert await store.get(["ann", "bob"]) == StoredKeys({}, frozenset())
    assert await store.get([]) == StoredKeys({}, frozenset())


async def test_the_first_key_stored_wins_and_a_second_caller_gets_it(store: KeyStore) -> None:
    first, second = a_key(1), a_key(2)
    assert await store.put_new("ann", first) == first
    assert await store.put_new("ann", second) == first
    assert await store.get(["ann", "ann", "bob"]) == StoredKeys({"ann": first}, frozenset())


async def test_two_stores_creating_keys_at_once_agree_on_each(backend: Backend, store: KeyStore) -> None:
    other = backend.open()
    try:
        owners = [f"user-{n}" for n in range(40)]
        mine = await asyncio.gather(*(store.put_new(owner, a_key(n)) for n, owner in enumerate(owners)))
        theirs = await asyncio.gather(*(other.put_new(owner, a_key(n)) for n, owner in enumerate(owners)))
        assert mine == theirs
        raced = [f"raced-{n}" for n in range(40)]
        results = await asyncio.gather(
            *(one.put_new(owner, a_key(n)) for owner in raced for n, one in enumerate((store, other)))
        )
        assert results[0::2] == results[1::2]
        assert (await other.get(raced)).wrapped == dict(zip(raced, results[0::2]))
    finally:
        await other.close()


PUT_NEW_IN_A_PROCESS = """
import asyncio, json, os, sys
from pathlib import Path
from events.adapters.key_stores import key_store_for

async def main() -> None:
    store = key_store_for(sys.argv[1], Path(sys.argv[2]))
    owners = [f"user-{n}" for n in range(int(sys.argv[3]))]
    sys.stdin.readline()  # both processes start together
    kept = [(await store.put_new(owner, os.urandom(40))).hex() for owner in owners]
    await store.close()
    print(json.dumps(kept))

asyncio.run(main())
"""


async def test_two_processes_creating_keys_at_once_agree_on_each(backend: Backend, store: KeyStore) -> None:
    args = ["-c", PUT_NEW_IN_A_PROCESS, backend.url, str(backend.data_dir), "60"]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate(b"go\n") for p in processes)), 120)
    assert [p.returncode for p in processes] == [0, 0], [err.decode() for _, err in outputs]
    one, two = (json.loads(out) for out, _ in outputs)
    assert one == two
    stored = await store.get([f"user-{n}" for n in range(60)])
    assert [stored.wrapped[f"user-{n}"].hex() for n in range(60)] == one


async def test_a_destroyed_key_is_gone_and_its_owner_gets_no_new_one(backend: Backend, store: KeyStore) -> None:
    await store.put_new("ann", a_key(1))
    await store.put_new("bob", bob := a_key(2))
    await store.destroy("ann")
    assert await store.get(["ann", "bob"]) == StoredKeys({"bob": bob}, frozenset({"ann"}))
    with pytest.raises(KeyDestroyed) as raised:
        await store.put_new("ann", a_key(3))
    assert raised.value.owner == "ann"
    other = backend.open()
    try:
        assert await other.get(["ann"]) == StoredKeys({}, frozenset({"ann"})), "another process sees it at once"
    finally:
        await other.close()


async def test_destroy_is_idempotent_and_works_for_an_owner_who_never_had_a_key(store: KeyStore) -> None:
    await store.put_new("ann", a_key(1))
    await store.destroy("ann")
    await store.destroy("ann")
    await store.destroy("never")
    assert await store.get(["ann", "never"]) == StoredKeys({}, frozenset({"ann", "never"}))
    with pytest.raises(KeyDestroyed):
        await store.put_new("never", a_key(2))


async def test_keys_and_destructions_survive_a_crash_and_a_reopen(backend: Backend) -> None:
    store = backend.open()
    await store.put_new("ann", a_key(1))
    await store.put_new("bob", bob := a_key(2))
    await store.destroy("ann")
    await store.close()
    backend.crash_and_restart()
    store = backend.open()
    try:
        assert await store.get(["ann", "bob"]) == StoredKeys({"bob": bob}, frozenset({"ann"}))
        with pytest.raises(KeyDestroyed):
            await store.put_new("ann", a_key(3))
    finally:
        await store.close()


async def test_many_owners_are_read_in_one_call(store: KeyStore) -> None:
    keys = {f"user-{n}": a_key(n) for n in range(0, 2000, 7)}
    for owner, key in keys.items():
        await store.put_new(owner, key)
    gone = {f"user-{n}" for n in range(0, 2000, 21)}
    for owner in gone:
        await store.destroy(owner)
    stored = await store.get([f"user-{n}" for n in range(2000)])
    assert stored == StoredKeys({o: k for o, k in keys.items() if o not in gone}, frozenset(gone))


def contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def files_holding(directory: Path, needle: bytes) -> list[str]:
    return [str(path) for path in sorted(directory.rglob("*")) if path.is_file() and needle in path.read_bytes()]


async def test_sqlite_a_destroyed_key_is_in_no_file_of_the_key_store(tmp_path: Path) -> None:
    store = key_store_for("", tmp_path)
    try:
        for n in range(50):
            await store.put_new(f"user-{n}", a_key(n))
        await store.put_new("ann", ann := a_key(99))
        assert files_holding(tmp_path, ann), "the search finds a key that is there"
        await store.destroy("ann")
        assert files_holding(tmp_path, ann) == []
    finally:
        await store.close()
    assert files_holding(tmp_path, ann) == []


async def test_redis_a_destroyed_key_leaves_the_aof_at_its_next_rewrite(tmp_path: Path) -> None:
    """What docs/privacy.md says: the AOF keeps the key's old write until BGREWRITEAOF."""
    server = RedisServer(tmp_path / "redis", EVERY_WRITE_FSYNCED).start()
    store = RedisKeyStore(server.url)
    client: coredis.Redis[bytes] = coredis.Redis.from_url(server.url)
    try:
        await store.put_new("ann", ann := a_key(1))
        await store.destroy("ann")
        assert files_holding(server.directory, ann), "the old write is still in the AOF"
        await client.bgrewriteaof()
        for _ in range(200):
            info = await client.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            await asyncio.sleep(0.05)
        assert info["aof_last_bgrewrite_status"] == "ok"
        assert files_holding(server.directory, ann) == []
    finally:
        client.connection_pool.disconnect()
        await store.close()
        server.stop()


def test_sqlite_refuses_a_file_that_is_not_the_key_store_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database, " * 100)
    with pytest.raises(ForeignFile, match="not a SQLite database"):
        key_store_for(f"sqlite:///{text}", tmp_path)
    assert text.read_text() == "not a database, " * 100

    theirs = tmp_path / "notes.db"
    with contextlib.closing(sqlite3.connect(theirs, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = theirs.read_bytes()
    with pytest.raises(ForeignFile, match="another program's tables"):
        key_store_for(f"sqlite:///{theirs}", tmp_path)
    assert theirs.read_bytes() == before


async def test_sqlite_refuses_the_log_and_a_read_store_and_leaves_them_as_they_were(tmp_path: Path) -> None:
    log_path, store_path = tmp_path / "log.db", tmp_path / "store.db"
    await SqliteLog(log_path).close()
    await SqliteStore(store_path).close()
    for path, kind in ((log_path, "the event log"), (store_path, "a read store")):
        before = contents(tmp_path)
        with pytest.raises(ForeignFile, match=f"is {kind}, not the key store"):
            key_store_for(f"sqlite:///{path}", tmp_path)
        assert contents(tmp_path) == before


async def test_redis_out_of_reach_is_reported_as_unavailable(tmp_path: Path) -> None:
    store = RedisKeyStore(f"redis://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(KeyStoreUnavailable):
            await store.get(["ann"])
    finally:
        await store.close()

    server = RedisServer(tmp_path / "redis", EVERY_WRITE_FSYNCED).start()
    store = RedisKeyStore(server.url, timeout=2)
    try:
        await store.put_new("ann", a_key(1))
        server.stop()
        with pytest.raises(KeyStoreUnavailable):
            await store.destroy("ann")
        with pytest.raises(KeyStoreUnavailable):
            await store.put_new("bob", a_key(2))
    finally:
        await store.close()


async def test_redis_that_could_lose_an_acknowledged_write_is_refused(tmp_path: Path) -> None:
    for options in (NO_PERSISTENCE, ("--appendonly", "yes", "--appendfsync", "everysec")):
        server = RedisServer(tmp_path / "redis", options).start()
        store = RedisKeyStore(server.url)
        try:
            with pytest.raises(RedisNotDurable, match="appendfsync always"):
                await store.put_new("ann", a_key(1))
        finally:
            await store.close()
            server.stop()
    refusals = {
        "maxmemory-policy": ("--maxmemory-policy", "allkeys-lru"),
        "does not answer CONFIG GET": ("--rename-command", "CONFIG", ""),
    }
    for message, options in refusals.items():
        server = RedisServer(tmp_path / "redis", (*EVERY_WRITE_FSYNCED, *options)).start()
        store = RedisKeyStore(server.url)
        try:
            with pytest.raises(RedisNotDurable, match=message):
                await store.destroy("ann")
        finally:
            await store.close()
            server.stop()


def test_key_store_for_refuses_a_url_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="names no key store"):
        key_store_for("kafka://localhost:9092", tmp_path)
