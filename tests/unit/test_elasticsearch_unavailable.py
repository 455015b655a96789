"""Which failures of the Elasticsearch client are the cluster not answering now: StoreUnavailable, a 503, a retry."""

from __future__ import annotations

import socket

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import (
    ApiError,
    BadRequestError,
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
    SerializationError,
)

from projections.adapters.elasticsearch_store import ElasticsearchStore, cluster_unavailable
from projections.store import Checkpoint, DocWrite, Query, StoreUnavailable


def _answer(cls: type[ApiError], status: int, kind: str) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "127.0.0.1", 9200))
    return cls(kind, meta, {"error": {"type": kind}, "status": status})


@pytest.mark.parametrize(
    ("failure", "unavailable"),
    [
        (ConnectionError("refused"), True),
        (ConnectionTimeout("timed out"), True),
        (_answer(ApiError, 429, "es_rejected_execution_exception"), True),
        (_answer(ApiError, 503, "no_shard_available_action_exception"), True),
        (_answer(ApiError, 500, "master_not_discovered_exception"), True),
        (_answer(BadRequestError, 400, "parsing_exception"), False),
        (_answer(NotFoundError, 404, "index_not_found_exception"), False),
        (_answer(ApiError, 403, "cluster_block_exception"), False),
        (SerializationError("not JSON"), False),
        (KeyError("no collection"), False),
    ],
)
def test_only_a_cluster_that_cannot_answer_now_is_unavailable(failure: Exception, unavailable: bool) -> None:
    assert cluster_unavailable(failure) is unavailable


async def test_every_operation_on_a_node_nobody_listens_on_raises_store_unavailable() -> None:
    """The real client against a port with no server: a 503 at the API, not a 500 with a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = ElasticsearchStore.from_url(f"http://127.0.0.1:{port}")
    try:
        calls = [
            store.get("items_v1", ["a"]),
            store.search("items_v1", Query()),
            store.write([DocWrite("items_v1", "a", 1, {})], Checkpoint("items_v1", {("t", 0): 1})),
            store.checkpoint("items_v1"),
            store.aliases(),
            store.expunge(),
        ]
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call
    finally:
        await store.close()
