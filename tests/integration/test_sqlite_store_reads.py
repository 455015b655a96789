"""The embedded store's read connections map the file (READ_MAP_BYTES), and still see every commit."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest

from projections.adapters.sqlite_store import READ_MAP_BYTES, SqliteStore
from projections.store import Checkpoint, CollectionSpec, DocWrite, Filter, Query

SPEC = CollectionSpec(fields={"n": "long"})
INDEXED = CollectionSpec(fields={"owner": "keyword", "n": "long"}, indexed=frozenset({"owner"}))


async def test_every_read_connection_maps_the_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        await store.ensure_collection("docs", SPEC)
        await store.write([DocWrite("docs", "a", 1, {"n": 1})], Checkpoint("test", {}))
        assert (await store.get("docs", ["a"]))["a"].body == {"n": 1}  # on the calling thread
        assert [d.id for d in (await store.search("docs", Query(size=1))).docs] == ["a"]  # a scan: the reader thread
        maps = [conn.execute("PRAGMA mmap_size").fetchone()[0] for conn in store._read_conns]
        assert len(maps) == 2 and set(maps) == {READ_MAP_BYTES}, maps
    finally:
        await store.close()


async def test_a_reader_that_mapped_the_file_sees_what_another_store_wrote_after_it_grew(tmp_path: Path) -> None:
    reader, writer = SqliteStore(tmp_path / "store.db"), SqliteStore(tmp_path / "store.db")
    try:
        await writer.ensure_collection("docs", SPEC)
        await writer.write([DocWrite("docs", "first", 1, {"n": 0})], Checkpoint("test", {}))
        assert list(await reader.get("docs", ["first"])) == ["first"]
        body = {"n": 1, "text": "x" * 2_000}  # 20,000 of these grow the file about 40 MB past what was mapped
        for start in range(0, 20_000, 5_000):
            await writer.write(
                [DocWrite("docs", f"d{i:05d}", 2, body) for i in range(start, start + 5_000)], Checkpoint("test", {})
            )
        await writer.write([DocWrite("docs", "first", 3, {"n": 3})], Checkpoint("test", {}))
        wanted = ["first", "d00000", "d12345", "d19999"]
        found = await reader.get("docs", wanted)
        assert {i: (d.version, d.body["n"]) for i, d in found.items()} == {
            "first": (3, 3),
            "d00000": (2, 1),
            "d12345": (2, 1),
            "d19999": (2, 1),
        }
    finally:
        await reader.close()
        await writer.close()


async def test_a_sum_through_an_index_with_a_few_keys_runs_on_the_calling_thread(tmp_path: Path) -> None:
    """As a count does: a user's stats sum their articles' bumps, and a trip to the reader thread was most of it."""
    store = SqliteStore(tmp_path / "store.db")
    try:
        await store.ensure_collection("docs", INDEXED)
        await store.write(
            [DocWrite("docs", f"d{i}", 1, {"owner": f"u{i % 2}", "n": i}) for i in range(6)], Checkpoint("test", {})
        )
        mine = Query(filters=(Filter("owner", ("u1",)),))
        with patch.object(store, "_on", side_effect=AssertionError("went to a thread")):
            assert await store.sum_of("docs", "n", mine) == 1 + 3 + 5
            with pytest.raises(AssertionError, match="went to a thread"):
                await store.sum_of("docs", "n", Query())  # every document: a scan, on the reader thread
        assert await store.sum_of("docs", "n", Query()) == 15
    finally:
        await store.close()
