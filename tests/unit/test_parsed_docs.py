"""ParsedDocs: what a SQLite store keeps parsed, and when it serves it."""

from __future__ import annotations

from projections.adapters import parsed_docs
from projections.adapters.parsed_docs import ParsedDocs
from projections.store import Doc


def _read(parsed: ParsedDocs, table: str, docs: list[Doc], size: int, schema: int, times: int = 2) -> None:
    for _ in range(times):
        parsed.keep(table, docs, size, schema)


def test_a_document_is_kept_from_its_second_read_and_served_at_its_version_only() -> None:
    parsed = ParsedDocs()
    assert parsed.observe(3)
    parsed.keep("t", [Doc("a", 2, {"n": 1})], 10, 3)
    assert parsed.split("t", ["a", "b"]) == ([], ["a", "b"])
    parsed.keep("t", [Doc("a", 2, {"n": 1})], 10, 3)
    assert parsed.split("t", ["a", "b"]) == (["a"], ["b"])
    assert parsed.split("other", ["a"]) == ([], ["a"])
    served, unkept = parsed.serve("t", ["a"], [2])
    assert served == {"a": Doc("a", 2, {"n": 1})} and unkept == []
    assert parsed.serve("t", ["a"], [3]) == ({}, ["a"])
    parsed.keep("t", [Doc("a", 3, {"n": 2})], 10, 3)  # a newer version of a kept one: kept at once
    assert parsed.serve("t", ["a"], [3]) == ({"a": Doc("a", 3, {"n": 2})}, [])


def test_a_newer_schema_drops_everything_kept_and_an_older_one_keeps_and_is_served_nothing() -> None:
    parsed = ParsedDocs()
    parsed.observe(3)
    _read(parsed, "t", [Doc("a", 1, {})], 10, 3)
    assert parsed.observe(4)
    assert parsed.split("t", ["a"]) == ([], ["a"])
    _read(parsed, "t", [Doc("a", 1, {})], 10, 3)  # read by statements that began before the schema changed
    assert parsed.split("t", ["a"]) == ([], ["a"])
    assert not parsed.observe(3)


def test_past_the_budget_everything_kept_is_dropped_and_a_read_larger_than_it_is_not_kept() -> None:
    parsed = ParsedDocs(budget=100)
    parsed.observe(1)
    _read(parsed, "t", [Doc("a", 1, {})], 60, 1)
    parsed.serve("t", ["a"], [1])  # served: keeping pays, and does not rest
    _read(parsed, "t", [Doc("b", 1, {})], 60, 1)
    assert parsed.split("t", ["a", "b"]) == (["b"], ["a"])
    _read(parsed, "t", [Doc("c", 1, {})], 101, 1)
    assert parsed.split("t", ["b", "c"]) == (["b"], ["c"])


def test_past_the_ids_it_remembers_a_document_read_once_is_forgotten(monkeypatch) -> None:
    monkeypatch.setattr(parsed_docs, "SEEN_IDS", 2)
    parsed = ParsedDocs()
    parsed.observe(1)
    parsed.keep("t", [Doc("a", 1, {}), Doc("b", 1, {})], 10, 1)
    parsed.keep("t", [Doc("c", 1, {})], 10, 1)  # a and b forgotten
    parsed.keep("t", [Doc("a", 1, {}), Doc("c", 1, {})], 10, 1)
    assert parsed.split("t", ["a", "c"]) == (["c"], ["a"])


def test_keeping_rests_when_what_filled_the_budget_was_served_less_than_once_a_document() -> None:
    parsed = ParsedDocs(budget=100)
    parsed.observe(1)
    for name in "ab":  # kept, never served
        _read(parsed, "t", [Doc(name, 1, {})], 50, 1)
    _read(parsed, "t", [Doc("c", 1, {})], 50, 1)  # past the budget: all dropped, and keeping rests
    assert parsed.split("t", ["a", "b", "c"]) == ([], ["a", "b", "c"])
    for _ in range(parsed_docs.REST * 2):  # the rest: REST times the two documents kept
        parsed.keep("t", [Doc("d", 1, {})], 10, 1)
    assert parsed.split("t", ["d"]) == ([], ["d"])
    _read(parsed, "t", [Doc("d", 1, {})], 10, 1)
    assert parsed.split("t", ["d"]) == (["d"], [])


def test_keeping_goes_on_when_what_filled_the_budget_was_served() -> None:
    parsed = ParsedDocs(budget=100)
    parsed.observe(1)
    for name in "ab":
        _read(parsed, "t", [Doc(name, 1, {})], 50, 1)
        parsed.serve("t", [name], [1])
    _read(parsed, "t", [Doc("c", 1, {})], 50, 1)
    assert parsed.split("t", ["a", "c"]) == (["c"], ["a"])
