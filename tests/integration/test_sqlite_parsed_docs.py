"""A SQLite store serves the documents it parsed before only while their stored versions are the kept ones.

Each test reads through one store while another, on the same file, writes and drops: as the API's
processes read what `tribe serve`'s projector and `tribe replay` write.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.adapters.sqlite_store import SqliteStore
from projections.store import Checkpoint, CollectionSpec, DocWrite, Query
from tribe.bootstrap import make_store
from tribe.settings import Settings

SPEC = CollectionSpec(fields={"n": "long"})
NO_CHECKPOINT = Checkpoint("test", {})


async def _write(store: SqliteStore, doc_id: str, version: int, n: int) -> None:
    await store.write([DocWrite("docs", doc_id, version, {"n": n})], NO_CHECKPOINT)


async def test_a_second_get_serves_the_parsed_body_and_a_newer_version_is_read_again(tmp_path: Path) -> None:
    reader, writer = SqliteStore(tmp_path / "store.db"), SqliteStore(tmp_path / "store.db")
    try:
        await writer.ensure_collection("docs", SPEC)
        await _write(writer, "a", 1, 1)
        await _write(writer, "b", 1, 10)
        await reader.get("docs", ["a", "b"])  # read once: remembered, not kept
        first = await reader.get("docs", ["a", "b"])
        again = await reader.get("docs", ["a", "b", "c"])
        assert again["a"] is first["a"] and again["b"] is first["b"] and "c" not in again
        await _write(writer, "a", 2, 2)
        await _write(writer, "c", 1, 100)
        now = await reader.get("docs", ["a", "b", "c"])
        assert {i: (d.version, d.body) for i, d in now.items()} == {
            "a": (2, {"n": 2}),
            "b": (1, {"n": 10}),
            "c": (1, {"n": 100}),
        }
        assert now["b"] is first["b"]
    finally:
        await reader.close()
        await writer.close()


async def test_a_store_set_to_keep_no_megabytes_parses_every_get(tmp_path: Path) -> None:
    settings = Settings.from_env({"TRIBE_DATA_DIR": str(tmp_path), "TRIBE_PARSED_DOCS_MB": "0"})
    reader, writer = make_store(settings), SqliteStore(tmp_path / "store.db")
    try:
        await writer.ensure_collection("docs", SPEC)
        await _write(writer, "a", 1, 1)
        first, second, third = [await reader.get("docs", ["a"]) for _ in range(3)]
        assert third["a"] == first["a"] and len({id(r["a"].body) for r in (first, second, third)}) == 3
    finally:
        await reader.close()
        await writer.close()


async def test_a_table_dropped_and_made_again_is_read_again_at_the_same_versions(tmp_path: Path) -> None:
    """A version of a view dropped and rebuilt by other code holds other bodies at the same log positions."""
    reader, writer = SqliteStore(tmp_path / "store.db"), SqliteStore(tmp_path / "store.db")
    try:
        await writer.ensure_collection("docs", SPEC)
        await _write(writer, "a", 7, 1)
        for _ in range(2):  # kept from its second read
            assert (await reader.get("docs", ["a"]))["a"].body == {"n": 1}
        await writer.drop_collection("docs")
        await writer.ensure_collection("docs", SPEC)
        await _write(writer, "a", 7, 2)
        assert (await reader.get("docs", ["a"]))["a"].body == {"n": 2}
    finally:
        await reader.close()
        await writer.close()


async def test_a_get_on_the_reader_thread_keeps_and_serves_as_one_on_the_calling_thread(tmp_path: Path) -> None:
    reader, writer = SqliteStore(tmp_path / "store.db"), SqliteStore(tmp_path / "store.db")
    ids = [f"d{i:03d}" for i in range(300)]  # more than a get reads on the calling thread
    try:
        await writer.ensure_collection("docs", SPEC)
        await writer.write([DocWrite("docs", d, 1, {"n": i}) for i, d in enumerate(ids)], NO_CHECKPOINT)
        await reader.get("docs", ids)
        first = await reader.get("docs", ids)
        await _write(writer, "d123", 2, -1)
        again = await reader.get("docs", ids)
        assert again["d000"] is first["d000"]
        assert again["d123"].body == {"n": -1}
        assert [again[d].body["n"] for d in ids if d != "d123"] == [i for i in range(300) if i != 123]
    finally:
        await reader.close()
        await writer.close()


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from("abc"), st.integers(-5, 5)),
        st.tuples(st.just("remake"), st.just(""), st.just(0)),
        st.tuples(st.just("get"), st.sampled_from(["a", "ab", "abc", "bc", "c"]), st.just(0)),
        st.tuples(st.just("search"), st.just(""), st.integers(1, 3)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(steps=_STEPS)
def test_any_interleaving_of_writes_remakes_gets_and_searches_reads_what_a_fresh_store_reads(
    steps: list[tuple[str, str, int]],
) -> None:
    """Versions restart at 1 in a table made again, as a rebuild's do: a kept body must never outlive its table.

    The searches are settled (Query.settled): the first `n` documents by id, served from what is kept when
    all of them are."""

    async def run(path: Path) -> None:
        reader, writer = SqliteStore(path), SqliteStore(path)
        stored: dict[str, tuple[int, int]] = {}
        try:
            await writer.ensure_collection("docs", SPEC)
            for kind, ids, n in steps:
                if kind == "write":
                    version = stored.get(ids, (0, 0))[0] + 1
                    await _write(writer, ids, version, n)
                    stored[ids] = (version, n)
                elif kind == "remake":
                    await writer.drop_collection("docs")
                    await writer.ensure_collection("docs", SPEC)
                    stored.clear()
                elif kind == "search":
                    page = await reader.search("docs", Query(sort=(("id", "asc"),), size=n, settled=True))
                    assert [(d.id, d.version, d.body["n"]) for d in page.docs] == [
                        (i, *stored[i]) for i in sorted(stored)[:n]
                    ]
                else:
                    found = await reader.get("docs", list(ids))
                    assert {i: (d.version, d.body["n"]) for i, d in found.items()} == {
                        i: stored[i] for i in ids if i in stored
                    }
        finally:
            await reader.close()
            await writer.close()

    workdir = Path(tempfile.mkdtemp(prefix="tribe-parsed-"))
    try:
        asyncio.run(run(workdir / "store.db"))
    finally:
        shutil.rmtree(workdir)
