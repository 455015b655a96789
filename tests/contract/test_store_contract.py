"""The behaviour of the Store port, written once (style.md item 6).

`StoreContract` is abstract: a subclass per adapter provides the `store` fixture
(a fresh, empty store). An adapter is done when its subclass passes unchanged.

Where adapters may differ, the contract states only what both guarantee:
- text search: a document containing every query word as a whole word, in any of the
  text fields, is found (case-insensitively); a document missing one of the words is not.
  (Tokenisers differ, SQLite FTS5's unicode61 and Elasticsearch's standard analyser, so
  punctuation, stemming-free plurals and text without any word are not tested here.)
- sort fields and filters are tested on documents that have the field, except where the
  port's docstring decides (a negated filter matches documents without the field).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from projections.adapters.elasticsearch_store import BulkWriteError, ElasticsearchStore
from projections.adapters.sqlite_store import SqliteStore
from projections.store import (
    Checkpoint,
    CollectionSpec,
    Doc,
    DocWrite,
    Filter,
    Prefix,
    Query,
    Store,
    StoreUnavailable,
)

SPEC = CollectionSpec(
    {
        "kind": "keyword",
        "note": "keyword",
        "tags": "keyword",
        "rank": "long",
        "live": "boolean",
        "at": "date",
        "title": "text",
        "body": "text",
    },
    lists=frozenset({"tags"}),
)
# The same mapping with an index only where the embedded store needs one to be fast: results
# must not change (Elasticsearch ignores `indexed`; SQLite scans the unindexed columns).
SPARSE = CollectionSpec(SPEC.fields, SPEC.lists, indexed=frozenset({"kind", "title", "body"}))
C = "items_v1"
CP = Checkpoint("items_v1", {("tribe.items", 0): 1})

# id: kind, note (None = absent), tags, rank, live, at
ROWS: dict[str, tuple[str, str | None, list[str], int, bool, int]] = {
    "d01": ("a", "n1", ["x", "y"], 3, True, 1_700_000_000_000),
    "d02": ("b", None, ["y"], 1, False, 1_700_000_001_000),
    "d03": ("a", "n2", [], 2, True, 1_700_000_002_000),
    "d04": ("c", None, ["z"], 3, True, 1_700_000_003_000),
    "d05": ("b", "n1", ["x", "z"], 2, True, 1_700_000_004_000),
    "d06": ("a", None, ["y", "z"], 1, False, 1_700_000_005_000),
    "d07": ("c", "n3", ["x"], 3, True, 1_700_000_006_000),
    "d08": ("b", None, ["x", "y", "z"], 2, True, 1_700_000_007_000),
    "d09": ("a", "n2", ["w"], 2, False, 1_700_000_008_000),
    "d10": ("c", None, [], 1, True, 1_700_000_009_000),
    "d11": ("a", "n1", ["x"], 3, True, 1_700_000_010_000),
}


def body(doc_id: str) -> dict[str, Any]:
    kind, note, tags, rank, live, at = ROWS[doc_id]
    doc: dict[str, Any] = {"kind": kind, "tags": tags, "rank": rank, "live": live, "at": at}
    if note is not None:
        doc["note"] = note
    return doc


def ids(docs: list[Doc]) -> list[str]:
    return [d.id for d in docs]


def ordered(key: Any) -> list[str]:
    """Every row id in the order of `key` (a function of the row), then by id."""
    return sorted(ROWS, key=lambda i: (key(ROWS[i]), i))


class StoreContract:
    @pytest.fixture(params=[SPEC, SPARSE], ids=["indexed", "sparsely-indexed"])
    async def rows(self, store: Store, request: pytest.FixtureRequest) -> Store:
        await store.ensure_collection(C, request.param)
        await store.write([DocWrite(C, i, 10, body(i)) for i in ROWS], CP)
        return store

    async def matching(self, store: Store, *filters: Filter) -> set[str]:
        page = await store.search(C, Query(filters=filters, size=100))
        assert page.total == len(page.docs)
        return set(ids(page.docs))

    # -- versions ------------------------------------------------------------------------

    async def test_a_newer_version_wins_an_older_or_equal_one_is_ignored(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "a", 5, {"rank": 1}), DocWrite(C, "b", 1, {"rank": 10})], CP)
        await store.write([DocWrite(C, "a", 3, {"rank": 2})], CP)
        await store.write([DocWrite(C, "a", 5, {"rank": 3})], CP)
        assert await store.get(C, ["a"]) == {"a": Doc("a", 5, {"rank": 1})}
        await store.write([DocWrite(C, "a", 7, {"rank": 4})], CP)
        assert await store.get(C, ["a", "b"]) == {"a": Doc("a", 7, {"rank": 4}), "b": Doc("b", 1, {"rank": 10})}

    async def test_an_expunge_keeps_every_document_and_no_overwritten_text_is_found(self, store: Store) -> None:
        """What an erasure relies on (services/erasure_runner.py): overwrite, expunge, and the old text is gone."""
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "a", 1, {"title": "zanzibarquux day", "body": "b"}),
                           DocWrite(C, "b", 1, {"title": "other", "body": "b"})], CP)
        await store.write([DocWrite(C, "a", 2, {"title": "", "body": ""})], CP)
        await store.expunge()
        assert {d.id: d.version for d in (await store.get(C, ["a", "b"])).values()} == {"a": 2, "b": 1}
        assert ids((await store.search(C, Query(text="zanzibarquux"))).docs) == []
        assert ids((await store.search(C, Query(text="other"))).docs) == ["b"]

    async def test_within_one_bulk_the_newest_version_wins_whatever_the_order(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "a", 9, {"rank": 9}), DocWrite(C, "a", 8, {"rank": 8})], CP)
        assert await store.get(C, ["a"]) == {"a": Doc("a", 9, {"rank": 9})}

    async def test_one_bulk_write_spans_collections(self, store: Store) -> None:
        await store.ensure_collection("left_v1", SPEC)
        await store.ensure_collection("right_v1", SPEC)
        writes = [DocWrite("left_v1", f"l{n:03}", n + 1, {"rank": n}) for n in range(300)]
        writes += [DocWrite("right_v1", f"r{n:03}", n + 1, {"rank": n}) for n in range(120)]
        await store.write(writes, CP)
        left = await store.get("left_v1", [w.id for w in writes[:300]])
        assert len(left) == 300 and left["l123"] == Doc("l123", 124, {"rank": 123})
        assert (await store.search("right_v1", Query(size=1))).total == 120

    async def test_a_write_to_a_collection_never_ensured_raises_and_records_no_checkpoint(
        self, store: Store
    ) -> None:
        await store.ensure_collection(C, SPEC)
        with pytest.raises(KeyError):
            await store.write(
                [DocWrite(C, "a", 1, {"rank": 1}), DocWrite("nowhere_v1", "b", 1, {"rank": 1})],
                Checkpoint("p_v1", {("t", 0): 7}),
            )
        assert await store.checkpoint("p_v1") == {}

    # -- checkpoints -----------------------------------------------------------------------

    async def test_the_checkpoint_is_returned_and_only_moves_forward(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        assert await store.checkpoint("p_v1") == {}
        await store.write([], Checkpoint("p_v1", {("t", 0): 5, ("t", 1): 3}))
        assert await store.checkpoint("p_v1") == {("t", 0): 5, ("t", 1): 3}
        await store.write(
            [DocWrite(C, "a", 1, {"rank": 1})], Checkpoint("p_v1", {("t", 0): 4, ("t", 1): 6, ("u", 0): 1})
        )
        assert await store.checkpoint("p_v1") == {("t", 0): 5, ("t", 1): 6, ("u", 0): 1}
        await store.write([], Checkpoint("p_v2", {("t", 0): 1}))
        assert await store.checkpoint("p_v1") == {("t", 0): 5, ("t", 1): 6, ("u", 0): 1}
        assert await store.checkpoint("p_v2") == {("t", 0): 1}

    async def test_a_dropped_checkpoint_is_forgotten_and_can_start_again_lower(self, store: Store) -> None:
        await store.write([], Checkpoint("p_v1", {("t", 0): 50, ("t", 1): 40}))
        await store.write([], Checkpoint("p_v2", {("t", 0): 9}))
        await store.drop_checkpoint("p_v1")
        assert await store.checkpoint("p_v1") == {}
        assert await store.checkpoint("p_v2") == {("t", 0): 9}
        await store.write([], Checkpoint("p_v1", {("t", 0): 2}))
        assert await store.checkpoint("p_v1") == {("t", 0): 2}
        await store.drop_checkpoint("never_v1")

    # -- collections and aliases -------------------------------------------------------------

    async def test_collections_lists_the_physical_collections_sorted(self, store: Store) -> None:
        for name in ("zeta_v1", "alpha_v2", "alpha_v1"):
            await store.ensure_collection(name, SPEC)
        await store.set_aliases({"alpha": "alpha_v2"})
        assert await store.collections() == ["alpha_v1", "alpha_v2", "zeta_v1"]
        await store.drop_collection("zeta_v1")
        assert await store.collections() == ["alpha_v1", "alpha_v2"]

    async def test_ensure_collection_is_idempotent(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "a", 1, {"rank": 1})], CP)
        await store.ensure_collection(C, SPEC)
        assert await store.get(C, ["a"]) == {"a": Doc("a", 1, {"rank": 1})}

    async def test_drop_collection_deletes_it_and_its_documents(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "a", 1, {"rank": 1})], CP)
        await store.drop_collection(C)
        with pytest.raises(KeyError):
            await store.search(C, Query())
        with pytest.raises(KeyError):
            await store.get(C, ["a"])
        await store.ensure_collection(C, SPEC)
        assert (await store.search(C, Query())).total == 0
        assert await store.get(C, ["a"]) == {}
        await store.drop_collection("never_v1")

    async def test_reading_an_unknown_name_raises_key_error(self, store: Store) -> None:
        with pytest.raises(KeyError):
            await store.search("nothing", Query())
        with pytest.raises(KeyError):
            await store.terms("nothing", "kind", Query(), 10)

    async def test_aliases_point_at_collections_and_reads_follow_a_switch(self, store: Store) -> None:
        for name in ("a_v1", "a_v2", "b_v1"):
            await store.ensure_collection(name, SPEC)
        await store.write(
            [
                DocWrite("a_v1", "one", 1, {"kind": "old"}),
                DocWrite("a_v2", "one", 1, {"kind": "new"}),
                DocWrite("a_v2", "two", 1, {"kind": "new"}),
                DocWrite("b_v1", "one", 1, {"kind": "b"}),
            ],
            CP,
        )
        await store.set_aliases({"a": "a_v1", "b": "b_v1"})
        assert await store.aliases() == {"a": "a_v1", "b": "b_v1"}
        assert await store.get("a", ["one", "two"]) == {"one": Doc("one", 1, {"kind": "old"})}
        assert ids((await store.search("a", Query())).docs) == ["one"]

        await store.set_aliases({"a": "a_v2"})
        assert await store.aliases() == {"a": "a_v2", "b": "b_v1"}
        assert (await store.get("a", ["one"]))["one"].body == {"kind": "new"}
        assert ids((await store.search("a", Query())).docs) == ["one", "two"]
        assert await store.terms("a", "kind", Query(), 10) == [("new", 2)]
        assert (await store.get("b", ["one"]))["one"].body == {"kind": "b"}

    async def test_switching_several_aliases_is_atomic_for_readers(self, store: Store) -> None:
        for name in ("a_v1", "a_v2", "b_v1", "b_v2"):
            await store.ensure_collection(name, SPEC)
        await store.set_aliases({"a": "a_v1", "b": "b_v1"})
        done = asyncio.Event()
        seen: list[dict[str, str]] = []

        async def watch() -> None:
            while not done.is_set():
                seen.append(await store.aliases())
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        flips = 0
        # Keep switching until the reader has looked often and the aliases have flipped at least twice
        # (a slow writer thread can leave the reader looking 30 times during the first flip).
        while (len(seen) < 30 or flips < 2) and flips < 2000:
            flips += 1
            version = 1 + flips % 2
            await store.set_aliases({"a": f"a_v{version}", "b": f"b_v{version}"})
            await asyncio.sleep(0)
        done.set()
        await watcher
        assert len(seen) >= 30 and flips >= 2
        assert all(s["a"].removeprefix("a") == s["b"].removeprefix("b") for s in seen), seen

    # -- get -------------------------------------------------------------------------------

    async def test_get_returns_only_documents_that_exist(self, rows: Store) -> None:
        found = await rows.get(C, ["d02", "missing", "d07"])
        assert found == {"d02": Doc("d02", 10, body("d02")), "d07": Doc("d07", 10, body("d07"))}
        assert await rows.get(C, []) == {}

    async def test_get_many_answers_each_collection_as_its_own_get_would(self, rows: Store) -> None:
        await rows.ensure_collection("other_v1", SPEC)
        await rows.write([DocWrite("other_v1", "d02", 4, {"rank": 7})], Checkpoint("other_v1"))
        await rows.set_aliases({"other": "other_v1"})
        found = await rows.get_many({C: ["d02", "missing", "d07"], "other": ["d02", "d07"], "unasked_v1": []})
        assert found == {
            C: {"d02": Doc("d02", 10, body("d02")), "d07": Doc("d07", 10, body("d07"))},
            "other": {"d02": Doc("d02", 4, {"rank": 7})},
            "unasked_v1": {},
        }
        assert await rows.get_many({C: [], "other": ["missing"]}) == {C: {}, "other": {}}
        assert await rows.get_many({}) == {}

    async def test_get_answers_an_id_asked_twice_once_with_its_body_intact(self, rows: Store) -> None:
        nested = {"title": "Ünïcode, \"quotes\" and ,commas]", "tags": ["a", "b"], "n": 2**53, "x": 0.5, "none": None}
        odd = {"kind": "odd id"}
        await rows.write([DocWrite(C, "d02", 11, nested), DocWrite(C, "d,03", 12, odd), DocWrite(C, "123", 2**62, odd)],
                         Checkpoint(C))
        found = await rows.get_many({C: ["d02", "d,03", "d02", "d07", "d,03", "123", "1e3"]})
        assert found == {C: {"d02": Doc("d02", 11, nested), "d,03": Doc("d,03", 12, odd), "123": Doc("123", 2**62, odd),
                             "d07": Doc("d07", 10, body("d07"))}}

    async def test_get_many_of_many_ids_answers_every_one(self, rows: Store) -> None:
        """More ids than the embedded store reads on the calling thread (it hands them to its reader thread)."""
        many = [f"x{n:04}" for n in range(300)]
        found = await rows.get_many({C: [*many, "d01"], "absent_v1": []})
        assert found == {C: {"d01": Doc("d01", 10, body("d01"))}, "absent_v1": {}}

    async def test_get_many_naming_a_collection_that_does_not_exist_raises_key_error(self, rows: Store) -> None:
        with pytest.raises(KeyError):
            await rows.get_many({C: ["d01"], "nowhere_v1": ["d01"]})

    # -- filters ---------------------------------------------------------------------------

    async def test_a_filter_on_a_scalar_field_matches_any_of_its_values(self, rows: Store) -> None:
        assert await self.matching(rows, Filter("kind", ("c",))) == {"d04", "d07", "d10"}
        assert await self.matching(rows, Filter("kind", ("b", "c"))) == {"d02", "d04", "d05", "d07", "d08", "d10"}
        assert await self.matching(rows, Filter("rank", (3,))) == {"d01", "d04", "d07", "d11"}
        assert await self.matching(rows, Filter("live", (False,))) == {"d02", "d06", "d09"}

    async def test_a_filter_on_a_list_field_matches_any_element(self, rows: Store) -> None:
        assert await self.matching(rows, Filter("tags", ("y",))) == {"d01", "d02", "d06", "d08"}
        assert await self.matching(rows, Filter("tags", ("w", "z"))) == {"d04", "d05", "d06", "d08", "d09"}

    async def test_a_negated_filter_matches_every_other_document_including_those_without_the_field(
        self, rows: Store
    ) -> None:
        everything = set(ROWS)
        assert await self.matching(rows, Filter("kind", ("a",), negate=True)) == everything - {
            "d01", "d03", "d06", "d09", "d11"
        }
        assert await self.matching(rows, Filter("note", ("n1",), negate=True)) == everything - {"d01", "d05", "d11"}
        assert await self.matching(rows, Filter("tags", ("x", "y"), negate=True)) == {"d03", "d04", "d09", "d10"}

    async def test_an_empty_filter_matches_nothing_and_its_negation_everything(self, rows: Store) -> None:
        assert await self.matching(rows, Filter("kind", ())) == set()
        assert await self.matching(rows, Filter("tags", ())) == set()
        assert await self.matching(rows, Filter("kind", (), negate=True)) == set(ROWS)

    async def test_filters_combine_with_and(self, rows: Store) -> None:
        assert await self.matching(
            rows, Filter("kind", ("a", "b")), Filter("tags", ("x",)), Filter("live", (True,))
        ) == {"d01", "d05", "d08", "d11"}
        assert await self.matching(rows, Filter("tags", ("z",)), Filter("kind", ("b",), negate=True)) == {
            "d04",
            "d06",
        }

    async def test_any_of_matches_documents_meeting_at_least_one_filter(self, rows: Store) -> None:
        async def any_of(*alternatives: Filter, filters: tuple[Filter, ...] = ()) -> set[str]:
            page = await rows.search(C, Query(filters=filters, any_of=alternatives, size=100))
            return set(ids(page.docs))

        assert await any_of(Filter("kind", ("c",)), Filter("tags", ("w",))) == {"d04", "d07", "d09", "d10"}
        assert await any_of(Filter("kind", ("c",)), Filter("tags", ("w",)), filters=(Filter("live", (True,)),)) == {
            "d04",
            "d07",
            "d10",
        }
        assert await any_of(Filter("live", (True,), negate=True), Filter("rank", (3,))) == {
            "d01", "d02", "d04", "d06", "d07", "d09", "d11"
        }
        assert await any_of(Filter("kind", ()), Filter("note", ("n3",))) == {"d07"}

    async def test_a_prefix_matches_keywords_starting_with_it(self, rows: Store) -> None:
        async def prefixed(value: str) -> set[str]:
            return set(ids((await rows.search(C, Query(prefix=Prefix("note", value), size=100))).docs))

        assert await prefixed("n") == {"d01", "d03", "d05", "d07", "d09", "d11"}
        assert await prefixed("n2") == {"d03", "d09"}
        assert await prefixed("m") == set()
        assert await prefixed("") == set(ROWS)

    @pytest.mark.parametrize("edge", ["\ud7ff", "\U0010ffff", "a\U0010ffff\U0010ffff"])
    async def test_a_prefix_ending_in_the_last_code_points_matches_exactly(self, store: Store, edge: str) -> None:
        """U+D7FF is followed by the surrogates and U+10FFFF by nothing: neither may break the prefix range."""
        await store.ensure_collection(C, SPEC)
        notes = {"in1": edge, "in2": edge + "z", "out1": "b", "out2": "\ue000", "out3": edge[:-1]}
        writes = [DocWrite(C, i, 1, {"kind": "k", "note": note, "tags": [], "rank": 0, "live": True, "at": 0})
                  for i, note in notes.items()]
        await store.write(writes, CP)
        found = await store.search(C, Query(prefix=Prefix("note", edge), size=100))
        assert set(ids(found.docs)) == {"in1", "in2"}

    async def test_sum_of_adds_a_numeric_field_over_the_matches(self, rows: Store) -> None:
        assert await rows.sum_of(C, "rank", Query()) == sum(r[3] for r in ROWS.values())
        assert await rows.sum_of(C, "rank", Query(filters=(Filter("kind", ("c",)),))) == 7.0
        assert await rows.sum_of(C, "rank", Query(filters=(Filter("kind", ()),))) == 0.0

    async def test_an_object_field_is_kept_whole_whatever_its_keys(self, store: Store) -> None:
        spec = CollectionSpec({"window": "keyword", "counts": "object"})
        await store.ensure_collection("buckets_v1", spec)
        counts = {"article-1": 3, "Any Key!": {"nested": [1, 2]}}
        await store.write([DocWrite("buckets_v1", "b1", 1, {"window": "1h", "counts": counts})], CP)
        assert (await store.get("buckets_v1", ["b1"]))["b1"].body == {"window": "1h", "counts": counts}
        page = await store.search("buckets_v1", Query(filters=(Filter("window", ("1h",)),)))
        assert ids(page.docs) == ["b1"]

    # -- sorting and paging ------------------------------------------------------------------

    async def test_sort_ascending_and_descending_with_the_id_as_tie_break(self, rows: Store) -> None:
        desc = await rows.search(C, Query(sort=(("rank", "desc"),), size=100))
        assert ids(desc.docs) == ordered(lambda r: -r[3])
        asc = await rows.search(C, Query(sort=(("rank", "asc"),), size=100))
        assert ids(asc.docs) == ordered(lambda r: r[3])
        by_date = await rows.search(C, Query(sort=(("at", "desc"),), size=3))
        assert ids(by_date.docs) == ["d11", "d10", "d09"]
        unsorted = await rows.search(C, Query(size=100))
        assert ids(unsorted.docs) == sorted(ROWS)

    async def test_offset_pagination_walks_the_sort_order(self, rows: Store) -> None:
        sort = (("kind", "desc"), ("rank", "asc"))
        expected = ordered(lambda r: (-ord(r[0]), r[3]))
        pages = [await rows.search(C, Query(sort=sort, size=4, offset=o)) for o in (0, 4, 8)]
        assert [ids(p.docs) for p in pages] == [expected[0:4], expected[4:8], expected[8:]]
        assert [p.total for p in pages] == [len(ROWS)] * 3

    async def test_search_after_over_a_mixed_sort_visits_every_document_exactly_once(self, rows: Store) -> None:
        sort = (("live", "desc"), ("rank", "asc"), ("kind", "desc"))
        expected = ordered(lambda r: (not r[4], r[3], -ord(r[0])))
        for size in (1, 2, 3, 4, 11, 20):
            visited: list[str] = []
            query = Query(sort=sort, size=size)
            for _ in range(len(ROWS) + 2):
                page = await rows.search(C, query)
                assert page.total == len(ROWS)
                visited += ids(page.docs)
                if page.next_search_after is None:
                    break
                assert len(page.docs) == size
                query = Query(sort=sort, size=size, search_after=page.next_search_after)
            assert visited == expected, size

    async def test_a_settled_search_answers_as_any_other_read_after_read_as_documents_change(self, rows: Store) -> None:
        """Query.settled lets a store serve bodies it kept: never one older than what it stores."""
        sort = (("rank", "desc"),)
        only = (Filter("kind", ("a", "b")),)

        async def both(**paging: Any) -> list[tuple[str, int, dict[str, Any]]]:
            plain, settled = [
                await rows.search(C, Query(filters=only, sort=sort, size=3, settled=s, **paging)) for s in (False, True)
            ]
            assert settled == plain
            return [(d.id, d.version, d.body) for d in settled.docs]

        for _ in range(3):
            first = await both()
        assert [i for i, _, _ in first] == ["d01", "d11", "d03"]
        await rows.write([DocWrite(C, "d11", 11, {**body("d11"), "note": "edited"})], CP)
        assert (await both())[1] == ("d11", 11, {**body("d11"), "note": "edited"})
        await rows.write([DocWrite(C, "d03", 11, {**body("d03"), "kind": "c"})], CP)
        for _ in range(3):
            again = await both()
        assert [i for i, _, _ in again] == ["d01", "d11", "d05"]
        assert await both(offset=3) == await both(offset=3)

    async def test_search_after_respects_filters(self, rows: Store) -> None:
        sort = (("at", "desc"),)
        only = (Filter("tags", ("x",)),)
        first = await rows.search(C, Query(filters=only, sort=sort, size=2))
        assert ids(first.docs) == ["d11", "d08"] and first.next_search_after is not None
        rest = await rows.search(C, Query(filters=only, sort=sort, size=10, search_after=first.next_search_after))
        assert ids(rest.docs) == ["d07", "d05", "d01"]
        assert rest.next_search_after is None and rest.total == 5

    # -- reads kept until a write -------------------------------------------------------------

    async def test_a_read_kept_until_a_write_is_read_again_after_one(self, rows: Store) -> None:
        """What a card or a feed relies on (projections/queries.py `suspended_users`): no answer from before a write."""
        async def live() -> set[str]:
            return await self.matching(rows, Filter("live", (True,)))

        before = await rows.unless_written("live", live)
        assert await rows.unless_written("live", live) == before
        await rows.write([DocWrite(C, "new", 1, {**body("d01"), "live": True})], CP)
        assert await rows.unless_written("live", live) == before | {"new"}

    # -- totals ------------------------------------------------------------------------------

    async def test_the_total_counts_every_match_whatever_the_page(self, rows: Store) -> None:
        page = await rows.search(C, Query(filters=(Filter("kind", ("a",)),), size=2, offset=1))
        assert page.total == 5 and len(page.docs) == 2
        assert (await rows.search(C, Query(size=2, with_total=False))).total is None

    async def test_size_zero_returns_only_the_total(self, rows: Store) -> None:
        page = await rows.search(C, Query(filters=(Filter("live", (True,)),), size=0))
        assert page.docs == [] and page.total == 8 and page.next_search_after is None

    # -- text ---------------------------------------------------------------------------------

    @pytest.fixture
    async def texts(self, store: Store) -> Store:
        await store.ensure_collection(C, SPEC)
        docs = {
            "t1": ("Quick brown fox", "jumps over the lazy dog", "a"),
            "t2": ("Quick thinking", "a brown bear sleeps", "a"),
            "t3": ("Slow brown cow", "eats grass all day", "a"),
            "t4": ("The quick fox", "fox again and again", "b"),
            "t5": ("Nothing here", "quick and brown and done", "b"),
        }
        await store.write(
            [DocWrite(C, i, 1, {"title": t, "body": b, "kind": k}) for i, (t, b, k) in docs.items()], CP
        )
        return store

    async def text(
        self, store: Store, text: str, *, fields: tuple[str, ...] = (), kind: str | None = None
    ) -> list[str]:
        filters = (Filter("kind", (kind,)),) if kind else ()
        page = await store.search(C, Query(filters=filters, text=text, text_fields=fields, size=100))
        assert page.total == len(page.docs)
        return ids(page.docs)

    async def test_text_finds_documents_with_every_word_in_any_text_field(self, texts: Store) -> None:
        assert await self.text(texts, "quick brown") == ["t1", "t2", "t5"]
        assert await self.text(texts, "fox") == ["t1", "t4"]
        assert await self.text(texts, "brown cow grass") == ["t3"]
        assert await self.text(texts, "brown unicorn") == []

    async def test_text_is_case_insensitive(self, texts: Store) -> None:
        assert await self.text(texts, "QUICK Fox") == ["t1", "t4"]

    async def test_text_can_be_limited_to_some_fields_and_combined_with_filters(self, texts: Store) -> None:
        assert await self.text(texts, "brown", fields=("body",)) == ["t2", "t5"]
        assert await self.text(texts, "quick", fields=("title",)) == ["t1", "t2", "t4"]
        assert await self.text(texts, "quick", kind="b") == ["t4", "t5"]

    # -- terms ---------------------------------------------------------------------------------

    async def test_terms_on_a_list_field_count_documents_most_frequent_first(self, rows: Store) -> None:
        assert await rows.terms(C, "tags", Query(), 10) == [("x", 5), ("y", 4), ("z", 4), ("w", 1)]
        assert await rows.terms(C, "tags", Query(), 2) == [("x", 5), ("y", 4)]
        assert await rows.terms(C, "tags", Query(filters=(Filter("live", (True,)),)), 10) == [
            ("x", 5),
            ("z", 3),
            ("y", 2),
        ]

    async def test_terms_on_a_scalar_field_skip_documents_without_it(self, rows: Store) -> None:
        assert await rows.terms(C, "kind", Query(), 10) == [("a", 5), ("b", 3), ("c", 3)]
        assert await rows.terms(C, "note", Query(), 10) == [("n1", 3), ("n2", 2), ("n3", 1)]
        assert await rows.terms(C, "note", Query(filters=(Filter("kind", ("a",)),)), 1) == [("n1", 2)]


class TestSqliteStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SqliteStore(tmp_path / "store.db")
        try:
            yield store
        finally:
            await store.close()

    # What only the SQLite store has to say: its transactions end on every path, and a SQLite
    # error is StoreUnavailable (the API's 503), not whatever the sqlite3 module raised.

    async def test_one_values_documents_in_a_ranges_order_are_read_from_its_index_without_sorting_them_all(
        self, store: SqliteStore
    ) -> None:
        """An outlier's newest articles cost the page: a range of (author, created_at), not a sort of all they wrote.

        The collection is made without the range first and ensured again with it, as a release that adds a
        range finds the collection an older one made (projections/feeder.py ensures the live version's)."""
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, d, 1, body(d)) for d in ROWS], CP)
        await store.ensure_collection(C, dataclasses.replace(SPEC, compound=frozenset({("kind", "rank")})))
        query = Query(filters=(Filter("kind", ("a",)), Filter("live", (True,))), sort=(("rank", "desc"),), size=2)
        statements: list[str] = []
        store._read_conn.set_trace_callback(statements.append)
        try:
            page = await store.search(C, query)
        finally:
            store._read_conn.set_trace_callback(None)
        assert ids(page.docs) == ["d01", "d11"]
        (select,) = [s for s in statements if "ORDER BY" in s]
        plan = " ".join(row[3] for row in store._read_conn.execute(f"EXPLAIN QUERY PLAN {select}"))
        assert f"USING INDEX r_{C}_kind_rank" in plan and "USE TEMP B-TREE FOR ORDER BY" not in plan

    @pytest.mark.parametrize(
        "sort",
        [
            (("score", "asc"),),
            (("score", "desc"),),
            (("note", "asc"), ("score", "desc")),
            (("title", "desc"),),
            (("live", "asc"), ("shape", "asc")),
        ],
    )
    async def test_search_after_starts_exactly_after_the_last_document_on_any_field(
        self, store: SqliteStore, sort: tuple[tuple[str, str], ...]
    ) -> None:
        """A page ends where its last document's sort values say: reals that JSON at 15 digits would round, fields
        some documents lack, text and list fields the table has no column for (read from the body), booleans."""
        scores = [0.1 + 0.2, 0.30000000000000004 + 1e-16, 1 / 3, 0.3333333333333333, 2**53 + 1.0, -1e-300, 7, None]
        spec = dataclasses.replace(SPEC, fields={**SPEC.fields, "shape": "object"})
        await store.ensure_collection(C, spec)
        docs = {
            f"d{i:02d}": {
                **body(d),
                "score": score,
                "title": f"t{i % 3}",
                "shape": [i % 2, "x"] if i % 4 else {"k": i % 3},
            }
            for i, (d, score) in enumerate(zip(ROWS, scores * 2))
        }
        for doc in docs.values():
            if doc["score"] is None:
                del doc["score"]
        await store.write([DocWrite(C, d, 1, b) for d, b in docs.items()], CP)
        everything = ids((await store.search(C, Query(sort=sort, size=100))).docs)
        assert sorted(everything) == sorted(docs)
        for size in (1, 2, 3):
            visited: list[str] = []
            query = Query(sort=sort, size=size)
            for _ in range(len(docs) + 1):
                page = await store.search(C, query)
                visited += ids(page.docs)
                if page.next_search_after is None:
                    break
                query = dataclasses.replace(query, search_after=page.next_search_after)
            assert visited == everything, size

    async def test_a_count_and_a_sum_of_one_values_documents_read_a_covering_index_and_no_document(
        self, store: SqliteStore
    ) -> None:
        """A user's stats count their live articles and sum their bumps from an index (CollectionSpec.compound),
        made when a release that adds it ensures the collection an older one made, as a range index is."""
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, d, 1, body(d)) for d in ROWS], CP)
        await store.ensure_collection(C, dataclasses.replace(SPEC, compound=frozenset({("kind", "live", "rank")})))
        live_a = Query(filters=(Filter("kind", ("a",)), Filter("live", (True,))), size=0)
        statements: list[str] = []
        store._read_conn.set_trace_callback(statements.append)
        try:
            counted = (await store.search(C, live_a)).total
            summed = await store.sum_of(C, "rank", live_a)
        finally:
            store._read_conn.set_trace_callback(None)
        assert (counted, summed) == (3, 8)
        selects = [s for s in statements if s.startswith(("SELECT COUNT", "SELECT TOTAL"))]
        assert len(selects) == 2
        for select in selects:
            plan = " ".join(row[3] for row in store._read_conn.execute(f"EXPLAIN QUERY PLAN {select}"))
            assert f"USING COVERING INDEX r_{C}_kind_live_rank" in plan

    async def test_after_an_expunge_no_byte_of_the_files_holds_an_overwritten_text(
        self, store: Store, tmp_path: Path
    ) -> None:
        await store.ensure_collection(C, SPEC)
        for n in range(50):  # enough rows that the old text is not merely the last page written
            await store.write([DocWrite(C, f"d{n}", 1, {"title": f"row {n} zanzibarquux", "body": "b"})], CP)
        await store.write([DocWrite(C, f"d{n}", 2, {"title": "", "body": ""}) for n in range(50)], CP)

        def held() -> bool:
            return any(b"zanzibarquux" in p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("store.db"))

        assert held(), "the full-text index keeps a deleted row's terms until its segments merge"
        await store.expunge()
        assert not held()

    async def test_an_expunge_rewrites_only_the_text_indexes_changed_since_the_last_one(
        self, store: Store, tmp_path: Path
    ) -> None:
        """An erasure's expunge costs what changed, not every version of every collection the store keeps."""
        assert isinstance(store, SqliteStore)
        for name in ("items_v1", "items_v2", "items_v3", "other_v1"):
            await store.ensure_collection(name, SPEC)
            await store.write([DocWrite(name, "d1", 1, {"title": "zanzibarquux day", "body": "b"})], CP)
        await store.write([DocWrite("items_v1", "d1", 2, {"title": "zanzibarquux day", "body": "b", "rank": 2})], CP)
        await store.write([DocWrite("items_v2", "d1", 2, {"title": "", "body": ""})], CP)
        other = SqliteStore(tmp_path / "store.db")  # another process on the same file: a worker, a replay
        try:
            await other.write([DocWrite("other_v1", "d1", 2, {"title": "", "body": ""})], CP)
        finally:
            await other.close()
        assert await optimized(store) == ["t_items_v2", "t_other_v1"]
        assert await optimized(store) == []

    async def test_a_text_index_made_before_changes_were_tracked_is_rewritten_by_the_next_expunge(
        self, store: Store, tmp_path: Path
    ) -> None:
        await store.ensure_collection(C, SPEC)
        outside = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        outside.execute('DROP TRIGGER "tx_items_v1"')  # as the release before it left the collection
        outside.close()
        upgraded = SqliteStore(tmp_path / "store.db")
        try:
            assert await optimized(upgraded) == ["t_items_v1"]
            await upgraded.write([DocWrite(C, "d1", 1, {"title": "zanzibarquux day", "body": "b"})], CP)
            await upgraded.write([DocWrite(C, "d1", 2, {"title": "", "body": ""})], CP)
            assert await optimized(upgraded) == ["t_items_v1"]
        finally:
            await upgraded.close()

    async def test_a_failed_alias_switch_leaves_no_transaction_open(self, store: Store) -> None:
        await store.ensure_collection(C, SPEC)
        with pytest.raises(StoreUnavailable):
            await store.set_aliases({"items": object()})  # type: ignore[dict-item]  # SQLite cannot bind it
        await store.set_aliases({"items": C})
        assert await store.aliases() == {"items": C}

    async def test_a_failed_drop_leaves_no_transaction_open(self, store: Store) -> None:
        with pytest.raises(ValueError):
            await store.drop_collection("not a name")
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, "d1", 1, {"kind": "a"})], CP)
        assert (await store.get(C, ["d1"]))["d1"].version == 1

    async def test_a_sqlite_error_is_store_unavailable_and_the_next_write_goes_through(
        self, store: Store, tmp_path: Path
    ) -> None:
        await store.ensure_collection(C, SPEC)
        outside = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        outside.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        with pytest.raises(StoreUnavailable, match="disk says no"):
            await store.write([DocWrite(C, "d1", 1, {"kind": "a"})], CP)
        assert await store.get(C, ["d1"]) == {}  # the documents went with the checkpoint
        outside.execute("DROP TRIGGER refuse")
        await store.write([DocWrite(C, "d1", 1, {"kind": "a"})], CP)
        assert await store.checkpoint(CP.projection) == CP.offsets
        outside.execute('DROP TABLE "c_items_v1"')
        outside.close()
        with pytest.raises(StoreUnavailable, match="no such table"):
            await store.search(C, Query(filters=(Filter("kind", ("a",)),)))


async def test_a_kept_read_is_kept_until_any_connection_writes(tmp_path: Path) -> None:
    """SQLite keeps a read (`unless_written`) until any commit, its own or another process's (here a connection's)."""
    store = SqliteStore(tmp_path / "store.db")
    computed: list[int] = []

    async def count() -> int:
        computed.append(1)
        return len(await store.get(C, ["a", "b"]))

    try:
        await store.ensure_collection(C, SPEC)
        await store.set_aliases({"items": C})
        assert [await store.unless_written("n", count) for _ in range(3)] == [0, 0, 0]
        assert len(computed) == 1
        other = SqliteStore(tmp_path / "store.db")
        try:
            await other.write([DocWrite(C, "a", 1, {"kind": "a"})], CP)
        finally:
            await other.close()
        assert await store.unless_written("n", count) == 1
        assert await store.unless_written("other read", count) == 1
        assert len(computed) == 3
    finally:
        await store.close()


async def optimized(store: SqliteStore) -> list[str]:
    """The full-text indexes an expunge rewrites, as SQLite traces the statements of the store's write connection."""
    statements: list[str] = []
    store._write_conn.set_trace_callback(statements.append)
    try:
        await store.expunge()
    finally:
        store._write_conn.set_trace_callback(None)
    return sorted(s.split('"')[1] for s in statements if s.startswith("INSERT INTO") and "'optimize'" in s)


ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.mark.elasticsearch
@pytest.mark.skipif(
    not ELASTICSEARCH_URL,
    reason="ELASTICSEARCH_URL is not set: no Elasticsearch to run against (docs/elasticsearch.md shows how)",
)
class TestElasticsearchStore(StoreContract):
    """Each test gets its own index prefix and deletes its indices afterwards."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[ElasticsearchStore]:
        store = ElasticsearchStore.from_url(ELASTICSEARCH_URL, prefix=f"contract-{uuid.uuid4().hex[:12]}-")
        try:
            yield store
        finally:
            found = await store.client.indices.get(index=f"{store.prefix}*", allow_no_indices=True)
            if found.body:
                await store.client.indices.delete(index=sorted(found.body))
            await store.close()

    async def test_a_body_field_outside_the_mapping_is_raised_not_dropped(self, store: ElasticsearchStore) -> None:
        await store.ensure_collection(C, SPEC)
        with pytest.raises(BulkWriteError) as failed:
            await store.write([DocWrite(C, "a", 1, {"unmapped": 1})], Checkpoint("p_v1", {("t", 0): 1}))
        assert failed.value.failures[0]["error"]["type"] == "strict_dynamic_mapping_exception"
        assert await store.checkpoint("p_v1") == {}
        assert await store.get(C, ["a"]) == {}

    async def test_an_expunge_merges_away_even_one_overwritten_document_among_many(
        self, store: ElasticsearchStore
    ) -> None:
        """An erasure overwrites a user's few documents in segments that hold many: each deleted copy goes."""
        await store.ensure_collection(C, SPEC)
        await store.write([DocWrite(C, f"d{i:03}", 1, {"title": f"t{i}", "body": "b"}) for i in range(200)], CP)
        await store.write([DocWrite(C, "d000", 2, {"title": "", "body": ""})], CP)
        stats = await store.client.indices.stats(index=store.prefix + C, metric="docs")
        assert stats["_all"]["primaries"]["docs"]["deleted"] == 1  # 0.5% of its segment: under the default 10%
        await store.expunge()
        stats = await store.client.indices.stats(index=store.prefix + C, metric="docs")
        assert stats["_all"]["primaries"]["docs"]["deleted"] == 0

    async def test_indices_and_aliases_carry_the_prefix(self, store: ElasticsearchStore) -> None:
        await store.ensure_collection("a_v1", SPEC)
        await store.set_aliases({"a": "a_v1"})
        found = await store.client.indices.get_alias(name=f"{store.prefix}a")
        assert list(found.body) == [f"{store.prefix}a_v1"]
