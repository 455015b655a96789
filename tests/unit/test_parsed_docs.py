"""ParsedDocs: what a SQLite store keeps parsed, and when it serves it."""

from __future__ import annotations

from projections.adapters.parsed_docs import ParsedDocs
from projections.store import Doc


def test_a_kept_document_is_served_at_its_version_only() -> None:
    parsed = ParsedDocs()
    assert parsed.observe(3)
    parsed.keep("t", [Doc("a", 2, {"n": 1})], 10, 3)
    assert parsed.split("t", ["a", "b"]) == (["a"], ["b"])
    assert parsed.split("other", ["a"]) == ([], ["a"])
    served, unkept = parsed.serve("t", ["a"], [2])
    assert served == {"a": Doc("a", 2, {"n": 1})} and unkept == []
    assert parsed.serve("t", ["a"], [3]) == ({}, ["a"])


def test_a_newer_schema_drops_everything_kept_and_an_older_one_keeps_and_is_served_nothing() -> None:
    parsed = ParsedDocs()
    parsed.observe(3)
    parsed.keep("t", [Doc("a", 1, {})], 10, 3)
    assert parsed.observe(4)
    assert parsed.split("t", ["a"]) == ([], ["a"])
    parsed.keep("t", [Doc("a", 1, {})], 10, 3)  # read by a statement that began before the schema changed
    assert parsed.split("t", ["a"]) == ([], ["a"])
    assert not parsed.observe(3)


def test_past_the_budget_everything_kept_is_dropped_and_a_read_larger_than_it_is_not_kept() -> None:
    parsed = ParsedDocs(budget=100)
    parsed.observe(1)
    parsed.keep("t", [Doc("a", 1, {})], 60, 1)
    parsed.keep("t", [Doc("b", 1, {})], 60, 1)
    assert parsed.split("t", ["a", "b"]) == (["b"], ["a"])
    parsed.keep("t", [Doc("c", 1, {})], 101, 1)
    assert parsed.split("t", ["b", "c"]) == (["b"], ["c"])
