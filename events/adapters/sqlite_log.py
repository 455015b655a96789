"""The embedded Log adapter: partitions in one SQLite file in WAL mode.

Appends are group-committed: concurrent callers' batches are written in one
transaction by a single writer thread, with `synchronous=FULL`, and each caller
is answered only after that commit has reached the disk. A record whose actor
already has an event of its id in the log is not written again: its first
position is returned, which makes client retries with their own event ids safe,
or, if the two say different things, its caller's batch is refused whole
(EventIdConflict) while the other callers' batches of the group are written.

The file is the log's own (events/adapters/sqlite_files.py): a store file, or any
other database, is refused. It keeps the partition counts it was created with (table
`partitions`; a log made before the table was written with the routing table's defaults), and
refuses to open under another topology (OtherTopology): a new count would move keys between
partitions, breaking per-key order and the documents' versions. A SQLite error is LogUnavailable (logged with its
cause): the API answers 503, and every transaction is rolled back on an error, so
one failure never blocks the writes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
import structlog

from events.adapters.sqlite_files import LOG_FILE, claim, create_private, data_version, transaction, use_wal
from events.log import Entry, EventIdConflict, Log, LogUnavailable, Position, Record
from events.routing import DEFAULT_TOPOLOGY, Topology, topology

P = ParamSpec("P")
T = TypeVar("T")
log = structlog.get_logger("sqlite-log")
OTHERS_POLL = 0.005
"""Seconds between two looks for appends of other processes to a shared log, while they append."""
OTHERS_POLL_QUIET = 0.05
"""The longest wait between two looks, reached by doubling OTHERS_POLL while nothing is appended: 200 looks a
second took 4% of a core from the process that also answers reads (each a timer wake-up, costly in a VM)."""
_FOLLOW_BATCH = 500
"""Entries per partition per read of `follow`."""


def next_look(pause: float, changed: bool) -> float:
    """The pause before the next look for other processes' appends: OTHERS_POLL after a change, then twice the
    last one while nothing changes, up to OTHERS_POLL_QUIET."""
    return OTHERS_POLL if changed else min(pause * 2, OTHERS_POLL_QUIET)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS log_event_id ON log (event_id);
CREATE TABLE IF NOT EXISTS id_blocks (block INTEGER PRIMARY KEY AUTOINCREMENT, claimed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS consumer_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partitions (topic TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
"""


class OtherTopology(RuntimeError):
    """The log was created with other partition counts than this process runs on; nothing in it was changed."""


def _keep_topology(conn: sqlite3.Connection, path: Path, wanted: Topology) -> None:
    """Record the counts of a new log; refuse a log created with other counts than `wanted`."""
    with transaction(conn):
        rows = dict(conn.execute("SELECT topic, count FROM partitions").fetchall())
        if not rows:
            written = conn.execute("SELECT 1 FROM log LIMIT 1").fetchone() is not None
            kept = DEFAULT_TOPOLOGY if written else wanted
            conn.executemany("INSERT INTO partitions (topic, count) VALUES (?, ?)", kept.counts)
        else:
            kept = Topology.of(rows)
    if kept != wanted:
        ours = ",".join(f"{t}={n}" for (t, n), (_, m) in zip(kept.counts, wanted.counts) if n != m)
        theirs = ",".join(f"{t}={m}" for (t, n), (_, m) in zip(kept.counts, wanted.counts) if n != m)
        custom = ",".join(f"{t}={n}" for t, n in kept.counts if n != DEFAULT_TOPOLOGY.partitions(t))
        advice = f"set TRIBE_PARTITIONS={custom}" if custom else "unset TRIBE_PARTITIONS"
        raise OtherTopology(
            f"the log {path} was created with {ours}, not {theirs}: a new count moves keys between partitions, "
            f"breaking per-key order and document versions; {advice}, or copy the log into a new one "
            '(docs/kafka.md, "Growing a topic")'
        )



def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _open_writer(path: Path) -> sqlite3.Connection:
    """The write connection, once the file is known to be a log (or made one, when empty)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        claim(
            conn,
            path,
            LOG_FILE,
            made_by_earlier_release=lambda tables: "log" in tables,
            hint="give --log (TRIBE_LOG) the event log's path",
        )
    except BaseException:
        conn.close()
        raise
    use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _name(record: Record) -> str:
    """The event's name in the log's event_id column, up to its digest: its actor, then its id.

    Neither a user id nor an event id holds '/' or '#'. Entries written before ids were scoped by
    actor hold the bare event id, which no later name equals.
    """
    return f"{record.actor_id}/{record.event_id}#"


def _unavailable(operation: str, exc: sqlite3.Error) -> LogUnavailable:
    log.warning("log_unavailable", operation=operation, error=f"{type(exc).__name__}: {exc}")
    return LogUnavailable(f"the log cannot {operation} ({exc})")


Method = Callable[P, Coroutine[Any, Any, T]]


def _guarded(operation: str) -> Callable[[Method[P, T]], Method[P, T]]:
    """A SQLite error in the operation becomes LogUnavailable, logged with its cause."""

    def decorate(method: Method[P, T]) -> Method[P, T]:
        @functools.wraps(method)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await method(*args, **kwargs)
            except sqlite3.Error as exc:
                raise _unavailable(operation, exc) from exc

        return guarded

    return decorate


class SqliteLog(Log):
    def __init__(self, path: Path, counts: Topology | None = None, *, shared: bool = False) -> None:
        """The log at `path`, which must have been created with `counts` (by default, the process topology's).

        `shared`: other processes append to the file while this one follows it (`tribe serve --processes`);
        their appends then wake this process's followers within OTHERS_POLL seconds while they append, within
        OTHERS_POLL_QUIET for the first append after a quiet spell.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="log-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="log-reader")
        self._write_conn = _open_writer(path)
        try:
            self._write_conn.executescript(_SCHEMA)
            _keep_topology(self._write_conn, path, counts or topology())
            self._read_conn = _connect(path)
        except BaseException:
            self._write_conn.close()
            raise
        self._pending: list[tuple[Sequence[Record], asyncio.Future[list[Position]]]] = []
        self._flushing = False
        self._watchers: list[asyncio.Event] = []
        self._shared = shared
        self._others: asyncio.Task[None] | None = None
        self._heads: dict[tuple[str, int], int] = {}  # end_offsets as of _heads_version (reader thread only)
        self._heads_version: int | None = None

    def watch(self) -> asyncio.Event:
        """An event set after every append of this process, for followers that want no polling delay (and,
        on a `shared` log, after the appends of the others)."""
        event = asyncio.Event()
        self._watchers.append(event)
        if self._shared and self._others is None:
            self._others = asyncio.get_running_loop().create_task(self._watch_others(), name="log-other-processes")
        return event

    async def _watch_others(self) -> None:
        """Wake the followers when a commit reached the file through another connection.

        SQLite changes `PRAGMA data_version` of a connection when any other connection commits, so
        this process's own appends wake them once more. A look is one read of a counter, paced by
        `next_look`.
        """
        seen = None
        pause = OTHERS_POLL
        while True:
            try:
                version = data_version(self._read_conn)
            except sqlite3.Error as exc:  # the file busy or gone for a moment: the followers poll anyway
                log.warning("log_watch_failed", error=str(exc))
            else:
                changed = seen is not None and version != seen
                if changed:
                    for event in self._watchers:
                        event.set()
                pause = next_look(pause, changed)
                seen = version
            await asyncio.sleep(pause)

    async def append(self, records: Sequence[Record]) -> list[Position]:
        if not records:
            return []
        future: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        self._pending.append((records, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await loop.run_in_executor(self._writer, self._write, [r for r, _ in batch])
                except Exception as exc:  # the whole group failed: nobody is acknowledged
                    failure = _unavailable("append", exc) if isinstance(exc, sqlite3.Error) else exc
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(failure)
                    continue
                for (_, future), result in zip(batch, results):
                    if future.done():
                        continue
                    if isinstance(result, EventIdConflict):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                for watcher in self._watchers:
                    watcher.set()
        finally:
            self._flushing = False

    def _write(self, groups: list[Sequence[Record]]) -> list[list[Position] | EventIdConflict]:
        """Every group's batch in one transaction; a batch that conflicts is refused alone."""
        conn = self._write_conn
        next_offsets: dict[tuple[str, int], int] = {}
        with transaction(conn):
            return [self._write_batch(conn, records, next_offsets) for records in groups]

    def _write_batch(
        self, conn: sqlite3.Connection, records: Sequence[Record], next_offsets: dict[tuple[str, int], int]
    ) -> list[Position] | EventIdConflict:
        """One caller's batch: first every name is looked up, so a conflict is found before anything is written."""
        known: dict[str, tuple[Position | int, str]] = {}  # name -> (position, or index in this batch; digest)
        places: list[Position | int] = []
        for index, record in enumerate(records):
            name = _name(record)
            found = known.get(name) or self._find(name)
            if found is None:
                known[name] = (index, record.digest)
                places.append(index)
                continue
            place, digest = found
            if digest != record.digest:
                return EventIdConflict(index, record.event_id)
            known[name] = found
            places.append(place)
        positions: list[Position] = []
        for index, (record, place) in enumerate(zip(records, places)):
            if isinstance(place, Position):
                positions.append(place)
                continue
            if place != index:  # a repeat within the batch: where its first copy went
                positions.append(positions[place])
                continue
            tp = (record.topic, record.partition)
            if tp not in next_offsets:
                row = conn.execute("SELECT MAX(offset) FROM log WHERE topic=? AND partition=?", tp).fetchone()
                next_offsets[tp] = 0 if row[0] is None else row[0] + 1
            offset = next_offsets[tp]
            next_offsets[tp] = offset + 1
            conn.execute(
                "INSERT INTO log VALUES (?,?,?,?,?,?)",
                (record.topic, record.partition, offset, record.key, record.value, _name(record) + record.digest),
            )
            positions.append(Position(record.topic, record.partition, offset))
        return positions

    def _find(self, name: str) -> tuple[Position, str] | None:
        """Where the log holds the event of this name, with its digest (the rest of the column)."""
        row = self._write_conn.execute(
            "SELECT topic, partition, offset, event_id FROM log WHERE event_id >= ? AND event_id < ? LIMIT 1",
            (name, name[:-1] + "$"),
        ).fetchone()
        return (Position(row[0], row[1], row[2]), row[3][len(name):]) if row else None

    @_guarded("read")
    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Entry]:
        return await asyncio.get_running_loop().run_in_executor(
            self._reader, self._read_now, topic, partition, offset, limit
        )

    @_guarded("read")
    async def read_many(self, starts: dict[tuple[str, int], int], limit: int) -> dict[tuple[str, int], list[Entry]]:
        def read_all() -> dict[tuple[str, int], list[Entry]]:
            return {(t, p): self._read_now(t, p, offset, limit) for (t, p), offset in starts.items()}

        return await asyncio.get_running_loop().run_in_executor(self._reader, read_all)

    async def follow(self, starts: dict[tuple[str, int], int]) -> AsyncIterator[list[Entry]]:
        """Reads again after every append of this process, and every second for those of others on the same file."""
        woken = self.watch()
        nexts = dict(starts)
        try:
            while True:
                woken.clear()
                found = await self.read_many(nexts, _FOLLOW_BATCH)
                batch = [entry for entries in found.values() for entry in entries]
                if not batch:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await woken.wait()
                    continue
                for entry in batch:
                    nexts[(entry.position.topic, entry.position.partition)] = entry.position.offset + 1
                yield batch
        finally:
            self._watchers.remove(woken)

    def _read_now(self, topic: str, partition: int, offset: int, limit: int) -> list[Entry]:
        # The entries as one JSON value (bytes in hex): one statement step, where a row per step
        # hands the GIL back and forth per entry, and waits for the event loop's thread at each
        # hand-back while the API is busy.
        (found,) = self._read_conn.execute(
            "SELECT json_group_array(json_array(offset, hex(key), hex(value))) FROM ("
            "SELECT offset, key, value FROM log WHERE topic=? AND partition=? AND offset>=? ORDER BY offset LIMIT ?)",
            (topic, partition, offset, limit),
        ).fetchone()
        rows = sorted(orjson.loads(found))  # in offset order whatever order the aggregate kept
        fromhex = bytes.fromhex
        return [Entry(Position(topic, partition, o), fromhex(k), fromhex(v)) for o, k, v in rows]

    @_guarded("tell its end")
    async def end_offset(self, topic: str, partition: int) -> int:
        def query() -> int:
            row = self._read_conn.execute(
                "SELECT MAX(offset) FROM log WHERE topic=? AND partition=?", (topic, partition)
            ).fetchone()
            return 0 if row[0] is None else row[0] + 1

        return await asyncio.get_running_loop().run_in_executor(self._reader, query)

    @_guarded("tell its end")
    async def end_offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """`end_offset` of many partitions in one trip to the reader thread (each an index seek).

        The heads are kept until the file changes (`PRAGMA data_version`: any other connection's
        commit, this process's appends included): every runner of an idle process asks for them
        several times a second, and 21 seeks a time were most of what an idle server did.
        """

        def query() -> dict[tuple[str, int], int]:
            version = data_version(self._read_conn)
            if version != self._heads_version:
                self._heads, self._heads_version = {}, version
            heads = self._heads
            for topic, partition in partitions:
                if (topic, partition) not in heads:
                    row = self._read_conn.execute(
                        "SELECT MAX(offset) FROM log WHERE topic=? AND partition=?", (topic, partition)
                    ).fetchone()
                    heads[(topic, partition)] = 0 if row[0] is None else row[0] + 1
            return {tp: heads[tp] for tp in partitions}

        return await asyncio.get_running_loop().run_in_executor(self._reader, query)

    @_guarded("store offsets")
    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        def write() -> None:
            with transaction(self._write_conn) as conn:
                conn.executemany(
                    "INSERT INTO consumer_offsets VALUES (?,?,?,?) "
                    "ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset=excluded.next_offset",
                    [(group, t, p, o) for (t, p), o in offsets.items()],
                )

        await asyncio.get_running_loop().run_in_executor(self._writer, write)

    @_guarded("read offsets")
    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        def query() -> dict[tuple[str, int], int]:
            rows = self._read_conn.execute(
                "SELECT topic, partition, next_offset FROM consumer_offsets WHERE grp=?", (group,)
            ).fetchall()
            return {(t, p): o for t, p, o in rows}

        return await asyncio.get_running_loop().run_in_executor(self._reader, query)

    @_guarded("claim an id block")
    async def claim_id_block(self) -> int:
        """The next row of `id_blocks`: AUTOINCREMENT never hands a number out twice, even after a delete."""

        def insert() -> int:
            with transaction(self._write_conn) as conn:
                cursor = conn.execute("INSERT INTO id_blocks (claimed_at) VALUES (?)", (int(time.time() * 1000),))
                assert cursor.lastrowid is not None
                return cursor.lastrowid

        return await asyncio.get_running_loop().run_in_executor(self._writer, insert)

    async def close(self) -> None:
        if self._others is not None:
            self._others.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._others
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self._write_conn.close()
        self._read_conn.close()
