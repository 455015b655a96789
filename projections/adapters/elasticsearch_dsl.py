"""The Store port in Elasticsearch's terms: index bodies, queries, bulk actions and their results.

Pure functions, no client and no I/O, so `elasticsearch_store.py` stays a thin
sequence of calls. The choices (documented in docs/elasticsearch.md):

- mappings are explicit and `dynamic: strict`: a body field missing from the
  CollectionSpec is an error, never a silently guessed mapping;
- every document carries `ID_FIELD`, a keyword copy of its id, because sorting on
  `_id` is disallowed by default since 8.0; it is the sort tie-break and thus part of
  every search_after cursor, and it is stripped again when reading;
- one primary shard per collection, so terms counts and totals are exact, and
  `auto_expand_replicas: 0-1`, so a single node stays green and two nodes get a replica;
- text fields use the `standard` analyser (lower-cased tokens, no stemming) and are the
  index's `index.query.default_field`, so a text query with no fields searches them all;
- a text query is `multi_match` of type `cross_fields` with operator `and`: every word
  must occur in at least one of the fields, as the SQLite adapter's full-text match requires;
- `object` fields are stored in `_source` but not indexed (`enabled: false`), so their keys
  need no mapping;
- documents without a sort field come first ascending and last descending, as in SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from projections.store import (
    Checkpoint,
    CollectionSpec,
    DeadLetter,
    Doc,
    DocWrite,
    FieldType,
    Filter,
    Page,
    Query,
    RunnerStatus,
)

ID_FIELD = "tribe-id"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Action = tuple[dict[str, Any], dict[str, Any]]

_FIELD_TYPES: dict[FieldType, dict[str, str | bool]] = {
    "keyword": {"type": "keyword"},
    "text": {"type": "text", "analyzer": "standard"},
    "long": {"type": "long"},
    "boolean": {"type": "boolean"},
    "date": {"type": "date", "format": "epoch_millis"},
    "object": {"type": "object", "enabled": False},
    "secret": {"type": "keyword", "index": False, "doc_values": False},
}

CHECKPOINT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "projection": {"type": "keyword"},
        "topic": {"type": "keyword"},
        "partition": {"type": "integer"},
        "next_offset": {"type": "long"},
    },
}

_LONG_TEXT = {"type": "text", "index": False}  # kept, never searched: an error can be longer than a keyword may be

FINGERPRINT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {"projection": {"type": "keyword"}, "fingerprint": {"type": "keyword"}},
}

STATUS_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "projection": {"type": "keyword"},
        "runner": {"type": "keyword"},
        "state": {"type": "keyword"},
        "fingerprint": {"type": "keyword"},
        "since": {"type": "long"},
        "updated_at": {"type": "long"},
        "error": _LONG_TEXT,
        "attempts": {"type": "integer"},
    },
}

DEAD_LETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "projection": {"type": "keyword"},
        "topic": {"type": "keyword"},
        "partition": {"type": "integer"},
        "offset": {"type": "long"},
        "key": {"type": "keyword", "ignore_above": 8191},
        "state": {"type": "keyword"},
        "cause": _LONG_TEXT,
        "attempts": {"type": "integer"},
        "first_failed_at": {"type": "long"},
        "last_failed_at": {"type": "long"},
    },
}

DEAD_LETTER_ORDER = [{"projection": "asc"}, {"topic": "asc"}, {"partition": "asc"}, {"offset": "asc"}]

# Move a checkpoint forward only: a lower or equal offset leaves the document untouched.
_FORWARD = (
    "if (ctx._source.next_offset < params.next_offset) "
    "{ ctx._source.next_offset = params.next_offset } else { ctx.op = 'noop' }"
)


def check_name(name: str, what: str = "collection") -> str:
    """The name, if it is one the port accepts (the SQLite adapter's rule); ValueError otherwise."""
    if not NAME.match(name):
        raise ValueError(f"bad {what} name {name!r}")
    return name


EXPUNGE_EVERY_DELETE = {"merge.policy.expunge_deletes_allowed": 0}
"""Index settings: a force merge with only_expunge_deletes skips a segment whose deleted documents are at
most this percentage of it (10 by default), so an erasure's few overwritten documents in a large segment
would stay on disk; at 0 every segment holding a deleted document is rewritten. A dynamic setting."""


def index_settings(spec: CollectionSpec) -> dict[str, Any]:
    index: dict[str, Any] = {"number_of_shards": 1, "auto_expand_replicas": "0-1", **EXPUNGE_EVERY_DELETE}
    text = [f for f, kind in spec.fields.items() if kind == "text"]
    if text:
        index["query"] = {"default_field": text}
    return {"index": index}


def mappings(spec: CollectionSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {ID_FIELD: {"type": "keyword"}}
    for name, kind in spec.fields.items():
        properties[check_name(name, "field")] = dict(_FIELD_TYPES[kind])
    return {"dynamic": "strict", "properties": properties}


def field(name: str) -> str:
    """The Elasticsearch field for a port field name: `id` is the keyword copy of the id."""
    return ID_FIELD if name == "id" else name


def _filter(f: Filter) -> dict[str, Any]:
    values = [v for v in f.values if v is not None]
    if not values:
        return {"match_none": {}}
    return {"terms": {field(f.field): values}}


def _one(f: Filter) -> dict[str, Any]:
    """A filter as a single clause, negation included (for `any_of`)."""
    clause = _filter(f)
    if not f.negate:
        return clause
    return {"bool": {"must_not": [clause]}} if "terms" in clause else {"match_all": {}}


def query_clause(query: Query) -> dict[str, Any]:
    """Every filter, one of `any_of`, the prefix and every word of the text, in filter context.

    Filter context because order comes from the sort, never from scores.
    """
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for f in query.filters:
        clause = _filter(f)
        if f.negate:
            if "terms" in clause:
                must_not.append(clause)
        else:
            must.append(clause)
    if query.any_of:
        must.append({"bool": {"should": [_one(f) for f in query.any_of], "minimum_should_match": 1}})
    if query.prefix is not None and query.prefix.value:
        must.append({"prefix": {field(query.prefix.field): query.prefix.value}})
    if query.text:
        text: dict[str, Any] = {"query": query.text, "type": "cross_fields", "operator": "and"}
        if query.text_fields:
            text["fields"] = list(query.text_fields)
        must.append({"multi_match": text})
    return {"bool": {"filter": must, "must_not": must_not}}


def sort_clause(sort: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    # unmapped_type: a live version built by older code may lack a field newer code sorts on; Elasticsearch
    # answers 400 for a sort on a field its mapping lacks, where SQLite sorts such documents as missing it.
    keys = [
        {
            field(name): {
                "order": direction,
                "missing": "_first" if direction == "asc" else "_last",
                "unmapped_type": "keyword",
            }
        }
        for name, direction in sort
    ]
    return [*keys, {ID_FIELD: {"order": "asc"}}]


def search_params(query: Query) -> dict[str, Any]:
    """Keyword arguments of `AsyncElasticsearch.search` for a port Query (without the index)."""
    params: dict[str, Any] = {
        "query": query_clause(query),
        "sort": sort_clause(query.sort),
        "size": query.size,
        "track_total_hits": query.with_total,
        "version": True,
    }
    if query.search_after is not None:
        if query.offset:
            raise ValueError("a query pages by offset or by search_after, not both")
        params["search_after"] = list(query.search_after)
    else:
        params["from_"] = query.offset
    return params


def terms_params(name: str, query: Query, size: int) -> dict[str, Any]:
    order = [{"_count": "desc"}, {"_key": "asc"}]
    return {
        "query": query_clause(query),
        "size": 0,
        "track_total_hits": False,
        "aggs": {"values": {"terms": {"field": field(name), "size": size, "order": order}}},
    }


def sum_params(name: str, query: Query) -> dict[str, Any]:
    return {
        "query": query_clause(query),
        "size": 0,
        "track_total_hits": False,
        "aggs": {"total": {"sum": {"field": field(name)}}},
    }


def sum_from(response: Mapping[str, Any]) -> float:
    return float(response["aggregations"]["total"]["value"] or 0.0)


def doc_from(hit: Mapping[str, Any]) -> Doc:
    body = {k: v for k, v in hit["_source"].items() if k != ID_FIELD}
    return Doc(hit["_id"], hit["_version"], body)


def page_from(response: Mapping[str, Any], query: Query) -> Page:
    hits = response["hits"]["hits"]
    total = response["hits"]["total"]["value"] if query.with_total else None
    after = tuple(hits[-1]["sort"]) if hits and len(hits) == query.size else None
    return Page([doc_from(h) for h in hits], total, after)


def terms_from(response: Mapping[str, Any]) -> list[tuple[Any, int]]:
    return [(b["key"], b["doc_count"]) for b in response["aggregations"]["values"]["buckets"]]


def doc_actions(writes: Iterable[DocWrite], index: Mapping[str, str]) -> list[Action]:
    """Index actions with external versions: Elasticsearch keeps a write only if its version is greater."""
    return [
        (
            {"index": {"_index": index[w.collection], "_id": w.id, "version": w.version, "version_type": "external"}},
            {**w.body, ID_FIELD: w.id},
        )
        for w in writes
    ]


def checkpoint_id(projection: str, topic: str, partition: int) -> str:
    return f"{projection}/{topic}/{partition}"


def checkpoint_actions(index: str, checkpoint: Checkpoint) -> list[Action]:
    """One scripted upsert per (topic, partition) that only ever raises `next_offset`."""
    actions: list[Action] = []
    for (topic, partition), offset in sorted(checkpoint.offsets.items()):
        doc = {"projection": checkpoint.projection, "topic": topic, "partition": partition, "next_offset": offset}
        meta = {"_index": index, "_id": checkpoint_id(checkpoint.projection, topic, partition), "retry_on_conflict": 5}
        script = {"source": _FORWARD, "lang": "painless", "params": {"next_offset": offset}}
        actions.append(({"update": meta}, {"script": script, "upsert": doc}))
    return actions


def offsets_from(response: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    return {
        (s["topic"], s["partition"]): s["next_offset"] for s in (h["_source"] for h in response["hits"]["hits"])
    }


def status_id(projection: str, runner: str) -> str:
    return f"{projection}/{runner}"


def status_source(status: RunnerStatus) -> dict[str, Any]:
    return {f: getattr(status, f) for f in status.__dataclass_fields__}


def dead_letter_id(letter: DeadLetter) -> str:
    return letter.id


def dead_letter_source(letter: DeadLetter) -> dict[str, Any]:
    return {f: getattr(letter, f) for f in letter.__dataclass_fields__}


def park_actions(index: str, letters: Iterable[DeadLetter]) -> list[Action]:
    """`create` actions: a letter whose position is parked already conflicts, and is left as it is."""
    return [({"create": {"_index": index, "_id": dead_letter_id(x)}}, dead_letter_source(x)) for x in letters]


def projection_query(projection: str | None) -> dict[str, Any]:
    return {"match_all": {}} if projection is None else {"term": {"projection": projection}}


MAX_BULK_BYTES = 10 * 1024 * 1024
"""The most a bulk request carries. Elasticsearch refuses a request over `http.max_content_length`
(100 MB) as a whole, and a thousand long articles (bodies of up to 100,000 characters) reach it."""


def chunks(actions: Sequence[Action], size: int, max_bytes: int = MAX_BULK_BYTES) -> Iterator[Sequence[Action]]:
    """The actions in order, cut into requests of at most `size` actions and `max_bytes` of JSON (an action
    larger than that alone)."""
    start, used = 0, 0
    for end, (meta, source) in enumerate(actions):
        cost = len(orjson.dumps(meta)) + len(orjson.dumps(source)) + 2
        if end > start and (end - start == size or used + cost > max_bytes):
            yield actions[start:end]
            start, used = end, 0
        used += cost
    if start < len(actions):
        yield actions[start:]


def operations(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """The bulk body: each action's metadata line, then its source line."""
    return [line for action in actions for line in action]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a bulk response says about its actions, by position."""

    retry: list[int]
    refused: list[dict[str, Any]]
    """Items refused for what the document is: writing it again cannot succeed."""
    failed: list[dict[str, Any]]
    """Items refused for the state of the cluster (a closed or missing index, a write block), not the document."""


NOT_THE_DOCUMENT = frozenset({"index_closed_exception", "index_not_found_exception", "cluster_block_exception"})
"""Errors a bulk item may carry that say nothing about its document, whatever their status: an operator
closed or dropped the index, or the cluster blocks writes (a read-only index, a disk past its flood stage)."""


def outcome(items: Sequence[Mapping[str, Any]], *, stale_ok: bool) -> Outcome:
    """Sort per-item results: fine, worth retrying (429, 5xx, a lost race), refused for good (a 400 about the
    document: a field the strict mapping lacks, a value it cannot parse), or failed (any other 4xx).

    With `stale_ok`, a version conflict is the intended fate of a stale write, so it counts as fine.
    """
    retry: list[int] = []
    refused: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        (result,) = item.values()
        status = int(result.get("status", 500))
        if status < 300 and "error" not in result:
            continue
        kind = result.get("error", {}).get("type") if isinstance(result.get("error"), dict) else None
        if status == 409 and stale_ok and kind == "version_conflict_engine_exception":
            continue
        if status in (409, 429) or status >= 500:
            retry.append(position)
        elif status == 400 and kind not in NOT_THE_DOCUMENT:
            refused.append(dict(result))
        else:
            failed.append(dict(result))
    return Outcome(retry, refused, failed)
