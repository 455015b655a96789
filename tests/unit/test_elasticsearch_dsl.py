"""The Elasticsearch adapter's pure translations: requests it builds and how it reads bulk results.

These run without a server and check only our side of the wire; Elasticsearch's
behaviour is checked by the Store contract suite against a real cluster.
The per-item result shapes below are those of the bulk API's documented response.
"""

from __future__ import annotations

import dataclasses

import pytest

from projections.adapters import elasticsearch_dsl as dsl
from projections.store import Checkpoint, CollectionSpec, DocWrite, Filter, Prefix, Query

SPEC = CollectionSpec(
    {"kind": "keyword", "tags": "keyword", "n": "long", "ok": "boolean", "at": "date", "title": "text", "body": "text"},
    lists=frozenset({"tags"}),
)


def test_mappings_are_strict_explicit_and_carry_a_keyword_copy_of_the_id() -> None:
    m = dsl.mappings(SPEC)
    assert m["dynamic"] == "strict"
    assert m["properties"] == {
        dsl.ID_FIELD: {"type": "keyword"},
        "kind": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "n": {"type": "long"},
        "ok": {"type": "boolean"},
        "at": {"type": "date", "format": "epoch_millis"},
        "title": {"type": "text", "analyzer": "standard"},
        "body": {"type": "text", "analyzer": "standard"},
    }
    assert not dsl.NAME.match(dsl.ID_FIELD), "the id copy must not be a name a spec field can have"


def test_a_field_name_the_port_refuses_is_refused() -> None:
    with pytest.raises(ValueError):
        dsl.mappings(CollectionSpec({"Bad-Name": "keyword"}))


def test_one_shard_and_the_text_fields_as_default_search_fields() -> None:
    assert dsl.index_settings(SPEC) == {
        "index": {
            "number_of_shards": 1,
            "auto_expand_replicas": "0-1",
            "merge.policy.expunge_deletes_allowed": 0,
            "query": {"default_field": ["title", "body"]},
        }
    }
    assert "query" not in dsl.index_settings(CollectionSpec({"k": "keyword"}))["index"]


def test_filters_negations_and_empty_values() -> None:
    q = Query(
        filters=(
            Filter("kind", ("a", "b")),
            Filter("tags", ("x",), negate=True),
            Filter("id", ("d1",)),
            Filter("n", ()),
            Filter("ok", (), negate=True),
        )
    )
    assert dsl.query_clause(q) == {
        "bool": {
            "filter": [{"terms": {"kind": ["a", "b"]}}, {"terms": {dsl.ID_FIELD: ["d1"]}}, {"match_none": {}}],
            "must_not": [{"terms": {"tags": ["x"]}}],
        }
    }


def test_any_of_and_prefix() -> None:
    q = Query(
        any_of=(Filter("kind", ("a",)), Filter("tags", ("x",), negate=True), Filter("n", ()), Filter("ok", (), True)),
        prefix=Prefix("kind", "ab"),
    )
    assert dsl.query_clause(q)["bool"]["filter"] == [
        {
            "bool": {
                "should": [
                    {"terms": {"kind": ["a"]}},
                    {"bool": {"must_not": [{"terms": {"tags": ["x"]}}]}},
                    {"match_none": {}},
                    {"match_all": {}},
                ],
                "minimum_should_match": 1,
            }
        },
        {"prefix": {"kind": "ab"}},
    ]
    assert dsl.query_clause(Query(prefix=Prefix("kind", "")))["bool"]["filter"] == []


def test_object_fields_are_stored_not_indexed() -> None:
    assert dsl.mappings(CollectionSpec({"m": "object"}))["properties"]["m"] == {"type": "object", "enabled": False}


def test_sum_reads_zero_when_nothing_matches() -> None:
    assert dsl.sum_params("n", Query())["aggs"] == {"total": {"sum": {"field": "n"}}}
    assert dsl.sum_from({"aggregations": {"total": {"value": 0.0}}}) == 0.0
    assert dsl.sum_from({"aggregations": {"total": {"value": 12.0}}}) == 12.0


def test_text_requires_every_word_across_the_fields() -> None:
    clause = dsl.query_clause(Query(text="quick fox", text_fields=("title",)))
    assert clause["bool"]["filter"] == [
        {"multi_match": {"query": "quick fox", "type": "cross_fields", "operator": "and", "fields": ["title"]}}
    ]
    assert "fields" not in dsl.query_clause(Query(text="fox"))["bool"]["filter"][0]["multi_match"]


def test_sort_ends_with_the_id_and_places_missing_and_unmapped_values_as_sqlite_does() -> None:
    assert dsl.sort_clause((("n", "desc"), ("kind", "asc"))) == [
        {"n": {"order": "desc", "missing": "_last", "unmapped_type": "keyword"}},
        {"kind": {"order": "asc", "missing": "_first", "unmapped_type": "keyword"}},
        {dsl.ID_FIELD: {"order": "asc"}},
    ]


def test_paging_by_offset_or_by_search_after() -> None:
    by_offset = dsl.search_params(Query(size=5, offset=10, with_total=False))
    assert (by_offset["from_"], by_offset["size"], by_offset["track_total_hits"]) == (10, 5, False)
    assert by_offset["version"] is True and "search_after" not in by_offset
    after = dsl.search_params(Query(search_after=(3, "d1")))
    assert after["search_after"] == [3, "d1"] and "from_" not in after
    with pytest.raises(ValueError):
        dsl.search_params(Query(offset=1, search_after=(3, "d1")))


def test_a_page_strips_the_id_copy_and_has_a_cursor_only_when_full() -> None:
    response = {
        "hits": {
            "total": {"value": 7, "relation": "eq"},
            "hits": [
                {"_id": "d1", "_version": 4, "_source": {"n": 1, dsl.ID_FIELD: "d1"}, "sort": [1, "d1"]},
                {"_id": "d2", "_version": 9, "_source": {"n": 1, dsl.ID_FIELD: "d2"}, "sort": [1, "d2"]},
            ],
        }
    }
    full = dsl.page_from(response, Query(size=2))
    assert [(d.id, d.version, d.body) for d in full.docs] == [("d1", 4, {"n": 1}), ("d2", 9, {"n": 1})]
    assert (full.total, full.next_search_after) == (7, (1, "d2"))
    partial = dsl.page_from(response, Query(size=3, with_total=False))
    assert (partial.total, partial.next_search_after) == (None, None)


def test_documents_are_written_with_external_versions() -> None:
    actions = dsl.doc_actions([DocWrite("c_v1", "d1", 42, {"n": 1})], {"c_v1": "tribe-c_v1"})
    assert actions == [
        (
            {"index": {"_index": "tribe-c_v1", "_id": "d1", "version": 42, "version_type": "external"}},
            {"n": 1, dsl.ID_FIELD: "d1"},
        )
    ]
    assert dsl.operations(actions) == [actions[0][0], actions[0][1]]


def test_checkpoints_are_upserts_that_only_raise_the_offset() -> None:
    ((meta, source),) = dsl.checkpoint_actions("cp", Checkpoint("v_v1", {("t", 3): 17}))
    assert meta == {"update": {"_index": "cp", "_id": "v_v1/t/3", "retry_on_conflict": 5}}
    assert source["upsert"] == {"projection": "v_v1", "topic": "t", "partition": 3, "next_offset": 17}
    assert source["script"]["params"] == {"next_offset": 17}
    assert "ctx._source.next_offset < params.next_offset" in source["script"]["source"]


def _item(status: int, error: str | None = None, op: str = "index") -> dict[str, object]:
    result: dict[str, object] = {"_index": "i", "_id": "x", "status": status}
    if error:
        result["error"] = {"type": error, "reason": "..."}
    return {op: result}


def test_a_stale_document_write_is_fine_other_failures_retry_are_refused_or_fail() -> None:
    items = [
        _item(201),
        _item(409, "version_conflict_engine_exception"),
        _item(429, "es_rejected_execution_exception"),
        _item(503, "unavailable_shards_exception"),
        _item(400, "strict_dynamic_mapping_exception"),
        _item(409, "some_other_conflict"),
        _item(400, "document_parsing_exception"),
        _item(400, "index_closed_exception"),
        _item(403, "cluster_block_exception"),
        _item(404, "index_not_found_exception"),
    ]
    result = dsl.outcome(items, stale_ok=True)
    assert result.retry == [2, 3, 5]
    assert [f["error"]["type"] for f in result.refused] == [
        "strict_dynamic_mapping_exception",
        "document_parsing_exception",
    ]
    assert [f["error"]["type"] for f in result.failed] == [
        "index_closed_exception",
        "cluster_block_exception",
        "index_not_found_exception",
    ]


def test_a_checkpoint_conflict_is_a_lost_race_to_retry_not_a_success() -> None:
    items = [_item(200, op="update"), _item(409, "version_conflict_engine_exception", op="update")]
    assert dsl.outcome(items, stale_ok=False) == dsl.Outcome(retry=[1], refused=[], failed=[])


def test_bulk_requests_are_cut_by_count_and_by_bytes_in_order() -> None:
    small = [({"index": {"_id": str(i)}}, {"t": "x"}) for i in range(5)]
    assert [len(c) for c in dsl.chunks(small, 2)] == [2, 2, 1]
    one = len(b'{"index":{"_id":"0"}}') + len(b'{"t":"x"}') + 2
    assert [len(c) for c in dsl.chunks(small, 100, max_bytes=2 * one)] == [2, 2, 1]
    large = ({"index": {"_id": "big"}}, {"t": "x" * 100})
    cut = list(dsl.chunks([small[0], large, small[1]], 100, max_bytes=50))
    assert cut == [[small[0]], [large], [small[1]]]
    assert list(dsl.chunks([], 10)) == []


def test_a_settled_query_is_asked_of_elasticsearch_as_any_other() -> None:
    """Query.settled lets a store that keeps parsed documents serve them; Elasticsearch keeps none."""
    q = Query(filters=(Filter("kind", ("a",)),), prefix=Prefix("kind", "a"), sort=(("n", "desc"),), size=7)
    assert dsl.search_params(dataclasses.replace(q, settled=True)) == dsl.search_params(q)
