"""The embedded Store adapter: one SQLite table per physical collection.

Each table holds (id, version, body as JSON); scalar fields of the mapping are
also indexed columns, filled from the body by the writer, and list fields are
searched with json_each. Documents and the checkpoint that produced them are
written in one transaction, so the embedded runtime is exactly-once.

The file guards itself: the store opens only a file it made (events/adapters/sqlite_files.py),
never the event log or another program's database, and never drops a table on opening. A
store of another layout is refused; `reset_layout` empties it for a rebuild from the log,
only when asked (`tribe replay --all`) and only while no other process has it open. Every
transaction is rolled back on an error, and a SQLite error is StoreUnavailable (logged with
its cause), which the API answers with 503.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import orjson
import structlog

from events.adapters.sqlite_files import (
    STORE_FILE,
    claim,
    create_private,
    data_version,
    table_names,
    transaction,
    use_wal,
)
from projections.adapters.parsed_docs import KEPT_BYTES, ParsedDocs
from projections.adapters.unavailable import unavailable_on
from projections.store import (
    Checkpoint,
    CollectionSpec,
    DeadLetter,
    Doc,
    DocumentRefused,
    DocWrite,
    Filter,
    Offsets,
    Page,
    Query,
    RunnerStatus,
    Store,
)

log = structlog.get_logger("sqlite-store")
T = TypeVar("T")
_INLINE_IDS = 200
"""A get of up to this many ids runs on the calling thread. A trip to the reader thread costs more CPU than
200 ids take here (~560 us, against ~750 us through the thread), and only SQLite's steps let go of the GIL
there; a first feed page's window (TimelineReads.window) asks for up to six ids per entry, 126 of them, and
the first read's window also the reader's follow of each outlier author (few: their audiences passed the
threshold) and their recent follows."""
_INLINE_KEYS = 100  # and so does a search through an index with up to this many keys
_SCHEMA = "SELECT schema_version FROM pragma_schema_version"
"""The database's schema version, which every statement that may keep or serve parsed documents reads (ParsedDocs)."""
ALIAS_TTL = 0.5  # seconds an alias switch by another process may take to be seen here
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_META = """
CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, spec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, collection TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (projection, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fingerprints (projection TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runner_statuses (
    projection TEXT NOT NULL, runner TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (projection, runner)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    projection TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (projection, topic, partition, "offset")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unexpunged (collection TEXT PRIMARY KEY) WITHOUT ROWID;
"""


LAYOUT = 3
"""The on-disk layout (PRAGMA user_version). 3: indexed fields are stored columns the writer fills,
before a body stored as JSON text.

The first layout (user_version 0) computed them as generated columns from the JSON body:
every write parsed the body once per index and the full-text triggers parsed old and new
bodies per text field (a card write cost ~50 us, now ~15). A store of another layout holds
only derived data, but it may be another release's live store: it is refused on opening, and
rebuilt only when asked (`reset_layout`, by `tribe replay --all`).
"""


class OtherLayout(RuntimeError):
    """The file is a read store of another layout than this release's; nothing in it was changed."""


class StoreInUse(RuntimeError):
    """Another connection has the store open, so its layout cannot be reset now."""


def _made_by_earlier_release(tables: set[str]) -> bool:
    """A store made before stores were stamped: it has the store's own tables."""
    return {"collections", "checkpoints"} <= tables


def _claim(conn: sqlite3.Connection, path: Path) -> None:
    claim(
        conn,
        path,
        STORE_FILE,
        made_by_earlier_release=_made_by_earlier_release,
        layout=LAYOUT,
        hint="give --store (TRIBE_STORE) a read store's path, or a new file's",
    )


def _open_writer(path: Path) -> sqlite3.Connection:
    """The write connection, once the file is known to be a store of this layout (or made one, when new)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        _claim(conn, path)
        (layout,) = conn.execute("PRAGMA user_version").fetchone()
        if layout != LAYOUT:
            newer = "a newer release's" if layout > LAYOUT else "an older release's"
            raise OtherLayout(
                f"{path} is {newer} read store (layout {layout}; this release's is {LAYOUT}), and nothing in it "
                "was changed. Its documents come from the log: stop every process using it, then run "
                "`tribe replay --all` to rebuild it in this layout"
            )
    except BaseException:
        conn.close()
        raise
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")  # an overwritten document leaves no copy of its bytes (erasure)
    return conn


def reset_layout(path: Path) -> int | None:
    """Empty a store of another layout so this release can rebuild it; the layout it had, or None if none was reset.

    Never done on opening: only when asked (`tribe replay --all`). The file is opened with an
    exclusive lock, which SQLite grants only while no other connection has it open (each process
    of any release that uses the store keeps one), so a running server's store is never emptied
    under it: StoreInUse instead. A file that is not a read store raises ForeignFile.
    """
    if not path.exists():
        return None
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        _claim(conn, path)
        with transaction(conn, "BEGIN EXCLUSIVE"):
            (layout,) = conn.execute("PRAGMA user_version").fetchone()
            if layout == LAYOUT:
                return None
            virtual = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")]
            for name in [*virtual, *sorted(table_names(conn) - set(virtual))]:
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            conn.execute(f"PRAGMA user_version={LAYOUT}")
        log.warning("store_layout_reset", path=str(path), layout=layout, now=LAYOUT)
        return int(layout)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise StoreInUse(
                f"{path} is open in another process (a tribe serve, worker or replay, of this release or another): "
                "stop it before the store is rebuilt"
            ) from exc
        raise
    finally:
        conn.close()


class _Part(NamedTuple):
    """Some ids of one collection a get reads in one row: with their bodies, or their versions only.

    A named tuple, as Doc is: a get makes several, and a frozen dataclass sets each field through
    object.__setattr__."""

    collection: str
    table: str
    ids: list[str]
    bodies: bool


@dataclass(frozen=True, slots=True)
class _WritePlan:
    """How one collection's documents become rows: its upsert and the fields copied into columns."""

    sql: str
    columns: tuple[str, ...]
    texts: tuple[str, ...]


def _scalars(spec: CollectionSpec) -> list[str]:
    """The fields stored as columns: filters and sorts on them read no JSON."""
    return [f for f, kind in spec.fields.items() if f not in spec.lists and kind not in ("text", "object", "secret")]


def _indexed(spec: CollectionSpec) -> list[str]:
    if spec.indexed is None:
        return [f for f in _scalars(spec) if spec.fields[f] != "boolean"]
    return [f for f in _scalars(spec) if f in spec.indexed]


def _texts(spec: CollectionSpec) -> list[str]:
    """The text fields of the full-text index."""
    return [f for f, kind in spec.fields.items() if kind == "text" and (spec.indexed is None or f in spec.indexed)]


def _mark_text_changes(conn: sqlite3.Connection, name: str) -> None:
    """A write that changes a document's text leaves its old terms in the full-text index: name it for `expunge`."""
    conn.execute(
        f'CREATE TRIGGER IF NOT EXISTS "tx_{name}" AFTER UPDATE ON {_table(name)} '
        f"WHEN old.text_digest IS NOT new.text_digest BEGIN "
        # Not INSERT OR IGNORE: the document write's own conflict handling would override the IGNORE.
        f"INSERT INTO unexpunged SELECT '{name}' WHERE NOT EXISTS "
        f"(SELECT 1 FROM unexpunged WHERE collection = '{name}'); END"
    )


def _track_text_changes(conn: sqlite3.Connection) -> None:
    """Give every full-text collection the trigger of `_mark_text_changes`.

    A collection made before stores had it may hold deleted terms no expunge has removed: it is
    named for the next expunge too.
    """
    triggers = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    untracked = [
        name
        for name, spec in conn.execute("SELECT name, spec FROM collections").fetchall()
        if _texts(_spec_from_bytes(spec)) and f"tx_{name}" not in triggers
    ]
    if untracked:
        with transaction(conn):
            for name in untracked:
                _mark_text_changes(conn, name)
                conn.execute("INSERT OR IGNORE INTO unexpunged VALUES (?)", (name,))


def _text_digest(body: Mapping[str, object], texts: tuple[str, ...]) -> str:
    """A fingerprint of the text fields: the full-text index is rewritten only when it changes."""
    return hashlib.blake2b(orjson.dumps([body.get(f) for f in texts]), digest_size=8).hexdigest()



READ_MAP_BYTES = 1 << 30
"""How much of the store file each read connection maps into memory (SQLite's `mmap_size`).

Unmapped, a page that is not in the connection's own cache (2 MB) costs a read() call that
copies it from the OS page cache, and a store in use is far larger than that cache: a get of 20
documents at random from 300,000 card-sized ones (bench/store_reads.py, a 270 MB file) took 144
to 207 µs of CPU that way and 97 to 109 µs mapped, in four alternated runs. Mapped pages are the
OS page cache itself, shared by every connection and process, which the kernel reclaims as it
does any cached file. Writes still go through write(); SQLite maps no more than its build allows.
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA mmap_size={READ_MAP_BYTES}")
    return conn


@functools.lru_cache(maxsize=1024)
def _table(name: str) -> str:
    """The table of a collection, its name checked (remembered: every read names its tables again)."""
    if not _NAME.match(name):
        raise ValueError(f"bad collection name {name!r}")
    return f'"c_{name}"'


def _fts(name: str) -> str:
    return f'"t_{name}"'


@functools.lru_cache(maxsize=1024)
def _column(field: str) -> str:
    if not _NAME.match(field):
        raise ValueError(f"bad field name {field!r}")
    return f'"f_{field}"'


def _spec_to_bytes(spec: CollectionSpec) -> bytes:
    indexed = None if spec.indexed is None else sorted(spec.indexed)
    return orjson.dumps({"fields": spec.fields, "lists": sorted(spec.lists), "indexed": indexed})


def _spec_from_bytes(data: bytes) -> CollectionSpec:
    raw = orjson.loads(data)
    indexed = raw["indexed"]
    return CollectionSpec(raw["fields"], frozenset(raw["lists"]), None if indexed is None else frozenset(indexed))



def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix`, or None if there is none.

    SQLite compares text as UTF-8 bytes, which orders by code point. The last character that is
    not U+10FFFF goes up by one, skipping the surrogates (U+D800-U+DFFF cannot be encoded);
    those after it are dropped. A prefix of U+10FFFF only has no bound above.
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    last = ord(stripped[-1]) + 1
    return stripped[:-1] + chr(0xE000 if last == 0xD800 else last)

@unavailable_on(lambda exc: isinstance(exc, sqlite3.Error))
class SqliteStore(Store):
    def __init__(self, path: Path, parsed_bytes: int = KEPT_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        self._path = path
        self._write_conn = _open_writer(path)
        self._write_conn.executescript(_META)
        _track_text_changes(self._write_conn)
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._specs: dict[str, CollectionSpec] = {}
        self._plans: dict[str, _WritePlan] = {}
        self._alias_cache: tuple[float, dict[str, str]] | None = None
        self._unwritten: dict[str, tuple[int, Any]] = {}
        self._parsed = ParsedDocs(parsed_bytes)

    @property
    def _read_conn(self) -> sqlite3.Connection:
        """The calling thread's own read connection (the reader thread's, or the event loop's)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self._path)
            with self._conns_lock:
                self._read_conns.append(conn)
        return conn

    async def _on(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    # -- collections and aliases -------------------------------------------------

    async def ensure_collection(self, name: str, spec: CollectionSpec) -> None:
        await self._on(self._writer, self._ensure_collection, name, spec)

    async def expunge(self) -> None:
        """Rewrite the full-text indexes whose text changed since the last expunge, then empty the write-ahead log.

        Overwritten rows had their old bytes zeroed when written (`secure_delete`); an FTS5 index
        keeps a deleted row's terms until its segments merge (`optimize`, which rewrites the whole
        index); the WAL keeps old page images until a checkpoint truncates it. The indexes to
        rewrite are those the `unexpunged` table names: a trigger adds a collection whenever a
        write changes a document's text, in whichever process writes (workers, `tribe replay` and
        its helpers share the file), so the cost follows what changed, not how many collections
        and versions the store keeps.
        """

        def expunge() -> None:
            conn = self._write_conn
            for (name,) in conn.execute("SELECT collection FROM unexpunged").fetchall():
                with transaction(conn):
                    if conn.execute("DELETE FROM unexpunged WHERE collection=?", (name,)).rowcount:
                        conn.execute(f"INSERT INTO {_fts(name)} ({_fts(name)}) VALUES ('optimize')")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._on(self._writer, expunge)

    def _ensure_collection(self, name: str, spec: CollectionSpec) -> None:
        table = _table(name)
        texts = _texts(spec)
        columns = "".join(f", {_column(f)}" for f in _scalars(spec)) + (", text_digest TEXT" if texts else "")
        with transaction(self._write_conn) as conn:
            # The body comes last: a filter or sort on a column then reads no part of the body,
            # which for a long article spills into overflow pages.
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                f"(id TEXT NOT NULL UNIQUE, version INTEGER NOT NULL{columns}, body BLOB NOT NULL)"
            )
            for f in _indexed(spec):
                conn.execute(f'CREATE INDEX IF NOT EXISTS "i_{name}_{f}" ON {table} ({_column(f)})')
            for fields in sorted(spec.compound):
                # Named as the first of them (two-field ranges) were, so a store an earlier release made keeps its own.
                columns = ", ".join(_column(f) for f in fields)
                conn.execute(f'CREATE INDEX IF NOT EXISTS "r_{name}_{"_".join(fields)}" ON {table} ({columns})')
            if texts:
                self._create_text_index(name, texts)
            conn.execute("INSERT OR IGNORE INTO collections VALUES (?, ?)", (name, _spec_to_bytes(spec)))

    def _create_text_index(self, name: str, texts: list[str]) -> None:
        """An FTS5 index of the text fields, kept by triggers; rewrites that leave the text alone skip it."""
        table, fts = _table(name), _fts(name)
        cols = ", ".join(f'"{f}"' for f in texts)
        values = ", ".join(f"json_extract(new.body, '$.{f}')" for f in texts)
        conn = self._write_conn
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, tokenize='unicode61')")
        conn.execute(
            f'CREATE TRIGGER IF NOT EXISTS "ti_{name}" AFTER INSERT ON {table} BEGIN '
            f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {values}); END"
        )
        conn.execute(
            f'CREATE TRIGGER IF NOT EXISTS "tu_{name}" AFTER UPDATE ON {table} '
            "WHEN old.text_digest IS NOT new.text_digest BEGIN "
            f"DELETE FROM {fts} WHERE rowid = old.rowid; "
            f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {values}); END"
        )
        _mark_text_changes(conn, name)

    async def drop_collection(self, name: str) -> None:
        def drop() -> None:
            with transaction(self._write_conn) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {_table(name)}")
                conn.execute(f"DROP TABLE IF EXISTS {_fts(name)}")
                conn.execute("DELETE FROM collections WHERE name=?", (name,))
                conn.execute("DELETE FROM unexpunged WHERE collection=?", (name,))
            self._specs.pop(name, None)
            self._plans.pop(name, None)

        await self._on(self._writer, drop)

    async def set_aliases(self, targets: dict[str, str]) -> None:
        def switch() -> None:
            with transaction(self._write_conn) as conn:
                conn.executemany(
                    "INSERT INTO aliases VALUES (?, ?) "
                    "ON CONFLICT (alias) DO UPDATE SET collection=excluded.collection",
                    list(targets.items()),
                )

        await self._on(self._writer, switch)
        self._alias_cache = None

    # Point reads (checkpoints, a few documents by id, searches through an index with a few keys)
    # take tens of microseconds: they run on the calling thread, with its own connection, rather
    # than paying two thread wake-ups each. Anything that can scan (text and prefix searches,
    # aggregations other than a count or sum through such an index, long id lists) stays on the
    # reader thread.

    async def _read(self, here: bool, read: Callable[..., T], *args: Any) -> T:
        """`read(*args)` on the calling thread when `here` (a point read, as above), on the reader thread otherwise."""
        return read(*args) if here else await self._on(self._reader, read, *args)

    async def collections(self) -> list[str]:
        return [n for (n,) in self._read_conn.execute("SELECT name FROM collections ORDER BY name")]

    async def aliases(self) -> dict[str, str]:
        return dict(self._alias_map())

    def _alias_map(self) -> dict[str, str]:
        """Every alias, read at most every ALIAS_TTL seconds (and after this process switches one).

        Every read resolves its alias; reading the table each time was a tenth of a feed request.
        A switch made by another process (`tribe replay`) is seen within ALIAS_TTL, all at once;
        the old version stays intact until dropped, so a read in between is only that much older.
        """
        now = time.monotonic()
        cached = self._alias_cache
        if cached is not None and now - cached[0] < ALIAS_TTL:
            return cached[1]
        aliases = dict(self._read_conn.execute("SELECT alias, collection FROM aliases"))
        self._alias_cache = (now, aliases)
        return aliases

    def _resolve(self, name: str) -> tuple[str, CollectionSpec]:
        """Alias or collection name to (collection, its spec)."""
        collection = self._alias_map().get(name, name)
        spec = self._specs.get(collection)
        if spec is None:
            found = self._read_conn.execute(
                "SELECT spec FROM collections WHERE name=?", (collection,)
            ).fetchone()
            if found is None:
                raise KeyError(f"no collection or alias named {name!r}")
            spec = self._specs[collection] = _spec_from_bytes(found[0])
        return collection, spec

    # -- writes and checkpoints --------------------------------------------------

    def _plan(self, collection: str) -> _WritePlan:
        """How to write a collection's documents (an alias is not a place to write)."""
        plan = self._plans.get(collection)
        if plan is None:
            name, spec = self._resolve(collection)
            if name != collection:
                raise KeyError(f"{collection!r} is an alias; write to a collection")
            columns, texts = tuple(_scalars(spec)), tuple(_texts(spec))
            names = ["id", "version", "body", *map(_column, columns)] + (["text_digest"] if texts else [])
            table = _table(collection)
            values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
            plan = self._plans[collection] = _WritePlan(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {values} FROM json_each(?) WHERE 1 "
                f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{n}=excluded.{n}' for n in names[1:])} "
                f"WHERE excluded.version > {table}.version",
                columns,
                texts,
            )
        return plan

    @staticmethod
    def _rows(plan: _WritePlan, writes: list[DocWrite]) -> bytes:
        """Every row of the batch as one JSON array, for one INSERT ... SELECT FROM json_each."""
        columns, texts = plan.columns, plan.texts
        if texts:
            return orjson.dumps(
                [
                    [w.id, w.version, w.body, *[w.body.get(f) for f in columns], _text_digest(w.body, texts)]
                    for w in writes
                ]
            )
        return orjson.dumps([[w.id, w.version, w.body, *[w.body.get(f) for f in columns]] for w in writes])

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        by_collection: dict[str, list[DocWrite]] = {}
        for w in writes:
            by_collection.setdefault(w.collection, []).append(w)
        statements = []
        for collection, docs in by_collection.items():
            plan = self._plan(collection)
            try:
                rows = self._rows(plan, docs)
            except TypeError as exc:  # orjson: a value JSON cannot hold (an integer beyond 64 bits, a set)
                raise DocumentRefused(f"{collection}: a document cannot be stored as JSON ({exc})") from exc
            statements.append((plan.sql, rows))
        offsets = orjson.dumps([[t, p, o] for (t, p), o in checkpoint.offsets.items()])
        await self._on(self._writer, self._write_now, statements, checkpoint.projection, offsets)

    def _write_now(self, statements: list[tuple[str, bytes]], projection: str, offsets: bytes) -> None:
        # A statement per collection, its rows a JSON parameter: the sqlite3 module hands the GIL
        # back and forth once per statement step, and a thread that steps per row (executemany)
        # waits for the event loop's thread at every row (up to 5 ms each under load).
        with transaction(self._write_conn) as conn:
            for sql, rows in statements:
                conn.execute(sql, (rows.decode(),))
            conn.execute(
                "INSERT INTO checkpoints SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                "json_extract(value, '$[2]') FROM json_each(?) WHERE 1 ON CONFLICT (projection, topic, partition) "
                "DO UPDATE SET next_offset=MAX(next_offset, excluded.next_offset)",
                (projection, offsets.decode()),
            )

    async def checkpoint(self, projection: str) -> Offsets:
        rows = self._read_conn.execute(
            "SELECT topic, partition, next_offset FROM checkpoints WHERE projection=?", (projection,)
        )
        return {(t, p): o for t, p, o in rows}

    async def drop_checkpoint(self, projection: str) -> None:
        def drop() -> None:
            self._write_conn.execute("DELETE FROM checkpoints WHERE projection=?", (projection,))

        await self._on(self._writer, drop)

    # -- fingerprints, runner statuses and dead letters --------------------------------

    async def _apply(self, *statements: tuple[str, Sequence[Any]]) -> None:
        """Run the statements in one transaction on the writer thread."""

        def apply() -> None:
            with transaction(self._write_conn) as conn:
                for sql, params in statements:
                    conn.execute(sql, params)

        await self._on(self._writer, apply)

    async def claim_fingerprint(self, projection: str, fingerprint: str) -> str:
        await self._apply(("INSERT OR IGNORE INTO fingerprints VALUES (?, ?)", (projection, fingerprint)))
        (recorded,) = self._read_conn.execute(
            "SELECT fingerprint FROM fingerprints WHERE projection=?", (projection,)
        ).fetchone()
        return str(recorded)

    async def fingerprints(self) -> dict[str, str]:
        return dict(self._read_conn.execute("SELECT projection, fingerprint FROM fingerprints"))

    async def put_status(self, status: RunnerStatus) -> None:
        await self._apply(
            ("INSERT OR REPLACE INTO runner_statuses VALUES (?, ?, ?)",
             (status.projection, status.runner, orjson.dumps(status)))
        )

    async def statuses(self) -> list[RunnerStatus]:
        rows = self._read_conn.execute("SELECT body FROM runner_statuses ORDER BY projection, runner")
        return [RunnerStatus(**orjson.loads(body)) for (body,) in rows]

    async def remove_statuses(self, projection: str, runners: Sequence[str]) -> None:
        await self._apply(
            *(("DELETE FROM runner_statuses WHERE projection=? AND runner=?", (projection, r)) for r in runners)
        )

    @staticmethod
    def _letter_row(letter: DeadLetter) -> tuple[Any, ...]:
        return letter.projection, letter.topic, letter.partition, letter.offset, orjson.dumps(letter)

    async def park(self, letters: Sequence[DeadLetter]) -> None:
        await self._apply(
            *(("INSERT OR IGNORE INTO dead_letters VALUES (?, ?, ?, ?, ?)", self._letter_row(x)) for x in letters)
        )

    async def put_dead_letter(self, letter: DeadLetter) -> None:
        await self._apply(("INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)", self._letter_row(letter)))

    async def dead_letters(self, projection: str | None = None) -> list[DeadLetter]:
        order = 'ORDER BY projection, topic, partition, "offset"'
        if projection is None:
            rows = self._read_conn.execute(f"SELECT body FROM dead_letters {order}")
        else:
            rows = self._read_conn.execute(f"SELECT body FROM dead_letters WHERE projection=? {order}", (projection,))
        return [DeadLetter(**orjson.loads(body)) for (body,) in rows]

    async def remove_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        await self._apply(
            *(
                ('DELETE FROM dead_letters WHERE projection=? AND topic=? AND partition=? AND "offset"=?',
                 (x.projection, x.topic, x.partition, x.offset))
                for x in letters
            )
        )

    async def drop_records(self, projection: str) -> None:
        await self._apply(
            *((f"DELETE FROM {table} WHERE projection=?", (projection,))
              for table in ("fingerprints", "runner_statuses", "dead_letters"))
        )

    # -- reads ---------------------------------------------------------------------

    async def get(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        return (await self._get({collection: list(ids)}))[collection]

    async def get_many(self, ids: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Doc]]:
        return await self._get({collection: list(some) for collection, some in ids.items()})

    async def _get(self, wanted: dict[str, list[str]]) -> dict[str, dict[str, Doc]]:
        return await self._read(sum(map(len, wanted.values())) <= _INLINE_IDS, self._get_now, wanted)

    def _get_now(self, ids: Mapping[str, list[str]]) -> dict[str, dict[str, Doc]]:
        """The documents of these ids, each read as its version only when a parsed body of it is kept (ParsedDocs).

        One statement reads every collection: the bodies of ids none is kept of, the versions of
        the others; a second reads the bodies of those whose kept version is not the stored one.
        """
        found: dict[str, dict[str, Doc]] = {collection: {} for collection in ids}
        parts: list[_Part] = []
        for collection, some in ids.items():
            if some:
                table = _table(self._resolve(collection)[0])
                known, unknown = self._parsed.split(table, some)
                if known:
                    parts.append(_Part(collection, table, known, bodies=False))
                if unknown:
                    parts.append(_Part(collection, table, unknown, bodies=True))
        stale = self._read_parts(parts, found)
        if stale:
            self._read_parts(stale, found)
        return found

    def _read_parts(self, parts: list[_Part], found: dict[str, dict[str, Doc]]) -> list[_Part]:
        """Read the parts into `found` in one statement; the parts whose kept bodies were not the stored versions.

        One statement, and each part as one row: one statement step per part, where a row per
        step would hand the GIL back and forth per document (622 ms for 1,000 documents beside a
        busy thread, 14 ms this way; 5 ms either way when idle). The row holds JSON arrays, the ids,
        the versions and the bodies, which one aggregate step fills together, so in the same order:
        the bodies are JSON text already, joined as they are stored, where building a [id, version,
        body] text per document cost a feed's window a fifth more. The ids drive the join, each one
        a seek of the ids' index, where `id IN (...)` first sorted them into a temporary index. One
        more row, numbered -1, holds the schema version the statement read (ParsedDocs).
        """
        if not parts:
            return []
        sql = " UNION ALL ".join(
            [
                *(
                    f"SELECT {i}, json_group_array(d.id), json_group_array(d.version), "
                    + ("'[' || group_concat(d.body, ',') || ']' " if part.bodies else "NULL ")
                    + f"FROM json_each(?) AS wanted CROSS JOIN {part.table} AS d ON d.id = wanted.value"
                    for i, part in enumerate(parts)
                ),
                f"SELECT -1, ({_SCHEMA}), NULL, NULL",
            ]
        )
        rows = self._read_conn.execute(sql, [orjson.dumps(part.ids).decode() for part in parts]).fetchall()
        parsed = self._parsed
        schema = next(value for i, value, _, _ in rows if i < 0)
        current = parsed.observe(schema)
        stale: list[_Part] = []
        for i, doc_ids, versions, bodies in rows:
            if i < 0:
                continue
            part = parts[i]
            here = found[part.collection]
            if part.bodies:
                if bodies is not None:
                    read = _docs(doc_ids, versions, bodies)
                    parsed.keep(part.table, read, len(bodies), schema)
                    here.update((doc.id, doc) for doc in read)
                continue
            if current:
                served, unkept = parsed.serve(part.table, orjson.loads(doc_ids), orjson.loads(versions))
                here.update(served)
            else:
                unkept = orjson.loads(doc_ids)
            if unkept:
                stale.append(_Part(part.collection, part.table, unkept, bodies=True))
        return stale

    async def unless_written(self, read: str, compute: Callable[[], Awaitable[T]]) -> T:
        # Read before `compute`, so a commit that lands while it runs makes the next call compute again.
        version = data_version(self._read_conn)
        kept = self._unwritten.get(read)
        if kept is not None and kept[0] == version:
            return cast(T, kept[1])
        answer = await compute()
        self._unwritten[read] = (version, answer)
        return answer

    async def search(self, collection: str, query: Query) -> Page:
        return await self._read(self._is_selective(collection, query), self._search, collection, query)

    def _is_selective(self, collection: str, query: Query) -> bool:
        """Whether the query reads through the index of a field compared with a few keys.

        Such a query (an article by slug, a user's follows, the articles of the authors one
        follows) touches only the rows it returns, counts or sums, and costs less than the ~0.25 ms
        of a trip to the reader thread and back (several times that beside a busy event loop,
        which holds the GIL the thread waits for), so it runs on the calling thread. So does a
        range of ids (a reader's timeline, the outliers of a kind): the unique index of ids
        yields it in order, and a page stops at its size. Text searches and prefix ranges of
        other fields, which can scan, stay on the reader thread.
        """
        if query.text:
            return False
        if query.prefix is not None:
            return query.prefix.field == "id" and not query.with_total and query.size <= _INLINE_KEYS
        _, spec = self._resolve(collection)
        indexed = _indexed(spec)

        def selective(f: Filter) -> bool:
            return not f.negate and 0 < len(f.values) <= _INLINE_KEYS and f.field in indexed

        if any(selective(f) for f in query.filters):
            return True
        return bool(query.any_of) and all(selective(f) for f in query.any_of)

    def _search(self, collection: str, query: Query) -> Page:
        """One page as one row, for the reason a get is (`_read_parts`): the ids, versions and bodies of the page.

        The page is a subquery with a LIMIT, which SQLite does not flatten into the aggregate over
        it: it yields its rows in its ORDER BY, and the aggregate fills its three arrays in that order.
        Where the next page starts follows from the last document (`_sort_value`).
        """
        name, spec = self._resolve(collection)
        where, params = self._where(name, spec, query)
        table = _table(name)
        total = None
        if query.with_total:
            total = self._read_conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0]
        if query.size == 0:  # a count: a user's stats make three
            return Page([], total, None)
        sort = [*query.sort, ("id", "asc")]
        exprs = [self._expr(spec, f) for f, _ in sort]
        page_where, page_params = where, list(params)
        if query.search_after is not None:
            after_sql, after_params = _after(exprs, [d for _, d in sort], list(query.search_after))
            page_where = f"({where}) AND ({after_sql})"
            page_params += after_params
        order = ", ".join(f"{e} {d.upper()}" for e, (_, d) in zip(exprs, sort))
        page = f"FROM {table} WHERE {page_where} ORDER BY {order} LIMIT ? OFFSET ?"
        docs = self._read_page(table, page, [*page_params, query.size, query.offset], query.settled)
        after = tuple(_sort_value(docs[-1], f) for f, _ in sort) if docs and len(docs) == query.size else None
        return Page(docs, total, after)

    def _read_page(self, table: str, page: str, params: list[Any], settled: bool) -> list[Doc]:
        """The documents of a page (`page`: the FROM ... LIMIT of its subquery); of a settled one (Query.settled),
        from what is kept when the page's versions are all kept ones (ParsedDocs), in one statement of ids and
        versions; otherwise in one of ids, versions and bodies, whose documents are then kept."""
        conn, parsed = self._read_conn, self._parsed
        settled = settled and parsed.keeps
        if settled:
            ids, versions, schema = conn.execute(
                f"SELECT json_group_array(id), json_group_array(version), ({_SCHEMA}) FROM (SELECT id, version {page})",
                params,
            ).fetchone()
            if parsed.observe(schema):
                page_ids = orjson.loads(ids)
                served, unkept = parsed.serve(table, page_ids, orjson.loads(versions))
                if not unkept:
                    return [served[d] for d in page_ids]
        ids, versions, bodies, schema = conn.execute(
            "SELECT json_group_array(id), json_group_array(version), '[' || group_concat(body, ',') || ']', "
            f"({_SCHEMA}) FROM (SELECT id, version, body {page})",
            params,
        ).fetchone()
        if bodies is None:
            return []
        docs = _docs(ids, versions, bodies)
        if settled and parsed.observe(schema):
            parsed.keep(table, docs, len(bodies), schema)
        return docs

    async def terms(self, collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        def aggregate() -> list[tuple[str, int]]:
            name, spec = self._resolve(collection)
            where, params = self._where(name, spec, query)
            table = _table(name)
            if field in spec.lists:
                sql = (
                    f"SELECT j.value, COUNT(*) AS n FROM {table}, json_each({table}.body, '$.{field}') AS j "
                    f"WHERE {where} GROUP BY j.value ORDER BY n DESC, j.value LIMIT ?"
                )
            else:
                expr = self._expr(spec, field)
                sql = (
                    f"SELECT {expr} AS v, COUNT(*) AS n FROM {table} WHERE {where} AND v IS NOT NULL "
                    f"GROUP BY v ORDER BY n DESC, v LIMIT ?"
                )
            return [(v, n) for v, n in self._read_conn.execute(sql, [*params, size])]

        return await self._on(self._reader, aggregate)

    # -- query building --------------------------------------------------------------

    @staticmethod
    def _expr(spec: CollectionSpec, field: str) -> str:
        if field == "id":
            return "id"
        if field in spec.fields and field not in spec.lists and spec.fields[field] not in ("text", "object", "secret"):
            return _column(field)
        _column(field)  # validates the name
        return f"json_extract(body, '$.{field}')"

    def _where(self, name: str, spec: CollectionSpec, query: Query) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1"]
        params: list[Any] = []
        clauses.extend(self._filter(spec, f, params) for f in query.filters)
        if query.any_of:
            clauses.append("(" + " OR ".join(self._filter(spec, f, params) for f in query.any_of) + ")")
        if query.prefix is not None and query.prefix.value:
            expr = self._expr(spec, query.prefix.field)
            value = query.prefix.value
            above = _successor(value)
            if above is None:
                clauses.append(f"({expr} >= ?)")
                params.append(value)
            else:
                clauses.append(f"({expr} >= ? AND {expr} < ?)")
                params += [value, above]
        if query.text:
            words = re.findall(r"\w+", query.text)
            texts = query.text_fields or tuple(_texts(spec))
            if not set(texts) <= set(_texts(spec)):
                raise ValueError(f"not in the full-text index of {name}: {sorted(set(texts) - set(_texts(spec)))}")
            if not words or not texts:
                return "0", []
            columns = " ".join(f'"{f}"' for f in texts)
            match = "{" + columns + "}: " + " ".join('"' + w.replace('"', '""') + '"' for w in words)
            clauses.append(f"rowid IN (SELECT rowid FROM {_fts(name)} WHERE {_fts(name)} MATCH ?)")
            params.append(match)
        return " AND ".join(clauses), params

    def _filter(self, spec: CollectionSpec, f: Filter, params: list[Any]) -> str:
        if not f.values:
            return "1" if f.negate else "0"
        marks = ",".join("?" * len(f.values))
        params += list(f.values)
        if f.field in spec.lists:
            _column(f.field)
            sql = f"EXISTS (SELECT 1 FROM json_each(body, '$.{f.field}') WHERE value IN ({marks}))"
        elif spec.fields.get(f.field) == "boolean":
            # A boolean splits a collection in two at best: never let the planner pick its index over
            # a selective one (with no statistics it does, and scans half the table). `+` only
            # changes the plan, not the result.
            sql = f"+{self._expr(spec, f.field)} IN ({marks})"
        else:
            sql = f"{self._expr(spec, f.field)} IN ({marks})"
        # A missing field makes `IN` NULL; COALESCE makes its negation true, as the port says.
        return f"NOT COALESCE({sql}, 0)" if f.negate else sql

    async def sum_of(self, collection: str, field: str, query: Query) -> float:
        """On the calling thread when the query is selective, as a count is (`_is_selective`): a user's
        stats sum their articles' bumps, and the trip to the reader thread was most of that read."""
        return await self._read(self._is_selective(collection, query), self._sum_of, collection, field, query)

    def _sum_of(self, collection: str, field: str, query: Query) -> float:
        name, spec = self._resolve(collection)
        where, params = self._where(name, spec, query)
        expr = self._expr(spec, field)
        sql = f"SELECT TOTAL({expr}) FROM {_table(name)} WHERE {where}"
        return float(self._read_conn.execute(sql, params).fetchone()[0])

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self._write_conn.close()
        with self._conns_lock:
            conns, self._read_conns = self._read_conns, []
        for conn in conns:
            conn.close()


def _docs(ids: str, versions: str, bodies: str) -> list[Doc]:
    """The documents of a row a get or a search read: JSON arrays of their ids, versions and bodies, in one order."""
    return [Doc(*doc) for doc in zip(orjson.loads(ids), orjson.loads(versions), orjson.loads(bodies), strict=True)]


def _sort_value(doc: Doc, field: str) -> Any:
    """The value a sort on `field` compares for this document, as SQLite holds it (SqliteStore._expr).

    Its column, or json_extract of its body, is the body's top-level value read back from the JSON
    it was written as: the same number (a real exactly: orjson writes the shortest text that reads
    back as the same double), the same text, NULL when absent, 1 or 0 for a boolean, and an array or
    object as its compact JSON text.
    """
    if field == "id":
        return doc.id
    value = doc.body.get(field)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return value


def _after(exprs: list[str], directions: list[str], values: list[Any]) -> tuple[str, list[Any]]:
    """SQL for "strictly after these sort values" under mixed ascending/descending keys.

    A document may lack a sort field: SQLite orders its NULL first ascending and last descending,
    and a comparison with NULL is never true, so a NULL is compared with IS and placed by hand.
    """
    ors: list[str] = []
    params: list[Any] = []
    for i, (expr, direction) in enumerate(zip(exprs, directions)):
        ands: list[str] = []
        for earlier, equal in zip(exprs[:i], values[:i]):
            if equal is None:
                ands.append(f"{earlier} IS NULL")
            else:
                ands.append(f"{earlier} = ?")
                params.append(equal)
        value = values[i]
        if value is None:
            ands.append(f"{expr} IS NOT NULL" if direction == "asc" else "0")
        else:
            ands.append(f"{expr} > ?" if direction == "asc" else f"({expr} < ? OR {expr} IS NULL)")
            params.append(value)
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors), params
