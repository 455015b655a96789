"""What the Store port keeps beside the checkpoints: fingerprints, runner statuses, dead letters; and what it refuses.

Written once (style.md item 6), run against each adapter: SQLite always, Elasticsearch when
ELASTICSEARCH_URL is set. These records must be visible to another process at once (the
status command and `tribe dlq` run beside the runtimes), so each test reads them back through a
second store on the same data where the adapter allows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from projections.adapters.elasticsearch_store import ElasticsearchStore
from projections.adapters.sqlite_store import SqliteStore
from projections.store import (
    Checkpoint,
    CollectionSpec,
    DeadLetter,
    DocumentRefused,
    DocWrite,
    RunnerStatus,
    Store,
)

SPEC = CollectionSpec({"kind": "keyword", "rank": "long"})


def letter(offset: int, key: str = "a1", state: str = "behind", projection: str = "articles_v3") -> DeadLetter:
    return DeadLetter(
        projection, "tribe.articles", 5, offset, key, state,  # type: ignore[arg-type]
        "boom" if state == "failed" else "behind", 5 if state == "failed" else 0, 1_000 + offset, 2_000 + offset,
    )


class RecordsContract:
    async def test_a_fingerprint_is_recorded_once_and_kept(self, store: Store, other: Store) -> None:
        assert await store.claim_fingerprint("articles_v3", "aaaa") == "aaaa"
        assert await other.claim_fingerprint("articles_v3", "bbbb") == "aaaa"
        assert await other.claim_fingerprint("articles_v4", "bbbb") == "bbbb"
        assert await store.fingerprints() == {"articles_v3": "aaaa", "articles_v4": "bbbb"}

    async def test_a_runner_status_replaces_its_previous_one_and_others_see_it(
        self, store: Store, other: Store
    ) -> None:
        first = RunnerStatus("users_v2", "host:1", "running", "f1", 10, 10)
        await store.put_status(first)
        await store.put_status(RunnerStatus("users_v2", "host:2", "fenced", "f0", 11, 11, "built by f1"))
        retrying = replace(first, state="retrying", error="ConnectionError: gone " + "x" * 40_000, attempts=3,
                           since=20, updated_at=20)
        await store.put_status(retrying)
        assert await other.statuses() == [retrying, RunnerStatus("users_v2", "host:2", "fenced", "f0", 11, 11,
                                                                 "built by f1")]
        await other.remove_statuses("users_v2", ["host:2", "host:9"])
        assert await store.statuses() == [retrying]

    async def test_parking_keeps_a_letter_already_parked_and_put_replaces_it(self, store: Store, other: Store) -> None:
        head = letter(7, state="failed")
        await store.park([head, letter(9), letter(8)])
        await store.park([replace(head, state="behind", cause="later"), letter(3, key="a2")])
        assert await other.dead_letters("articles_v3") == [letter(3, key="a2"), head, letter(8), letter(9)]
        again = replace(head, attempts=6, cause="boom again", last_failed_at=9_999)
        await store.put_dead_letter(again)
        assert (await other.dead_letters("articles_v3"))[1] == again

    async def test_dead_letters_are_listed_by_projection_and_position_and_removed_by_position(
        self, store: Store, other: Store
    ) -> None:
        await store.park([letter(4, projection="trending_v2"), letter(2), letter(1, state="failed")])
        assert [x.id for x in await store.dead_letters()] == [
            "articles_v3:tribe.articles:5:1", "articles_v3:tribe.articles:5:2", "trending_v2:tribe.articles:5:4",
        ]
        await other.remove_dead_letters([letter(1), letter(4, projection="trending_v2")])
        assert await store.dead_letters() == [letter(2)]
        assert await store.dead_letters("trending_v2") == []

    async def test_many_dead_letters_are_all_listed(self, store: Store) -> None:
        await store.park([letter(n) for n in range(2_500)])
        assert [x.offset for x in await store.dead_letters("articles_v3")] == list(range(2_500))

    async def test_drop_records_forgets_one_projection_only(self, store: Store) -> None:
        for projection in ("articles_v3", "articles_v4"):
            await store.claim_fingerprint(projection, "f")
            await store.put_status(RunnerStatus(projection, "r", "running", "f", 1, 1))
            await store.park([letter(1, projection=projection)])
        await store.drop_records("articles_v3")
        assert await store.fingerprints() == {"articles_v4": "f"}
        assert [s.projection for s in await store.statuses()] == ["articles_v4"]
        assert [x.projection for x in await store.dead_letters()] == ["articles_v4"]

    async def test_an_empty_store_has_no_records(self, store: Store) -> None:
        assert (await store.fingerprints(), await store.statuses(), await store.dead_letters()) == ({}, [], [])
        await store.remove_dead_letters([letter(1)])
        await store.remove_statuses("p_v1", ["r"])
        await store.drop_records("p_v1")

    async def test_a_document_the_store_cannot_hold_is_refused_and_nothing_is_written(self, store: Store) -> None:
        await store.ensure_collection("items_v1", SPEC)
        with pytest.raises(DocumentRefused):
            await store.write(
                [DocWrite("items_v1", "a", 1, {"rank": 1}), DocWrite("items_v1", "b", 1, {"rank": 2**70})],
                Checkpoint("items_v1", {("t", 0): 2}),
            )
        assert await store.checkpoint("items_v1") == {}
        assert "b" not in await store.get("items_v1", ["a", "b"])


class TestSqliteRecords(RecordsContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SqliteStore(tmp_path / "store.db")
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    async def other(self, store: Store, tmp_path: Path) -> AsyncIterator[Store]:
        """The same file opened a second time, as another process would."""
        other = SqliteStore(tmp_path / "store.db")
        try:
            yield other
        finally:
            await other.close()


ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.mark.elasticsearch
@pytest.mark.skipif(
    not ELASTICSEARCH_URL,
    reason="ELASTICSEARCH_URL is not set: no Elasticsearch to run against (docs/elasticsearch.md shows how)",
)
class TestElasticsearchRecords(RecordsContract):
    """Each test gets its own index prefix and deletes its indices afterwards."""

    @pytest.fixture
    def prefix(self) -> str:
        return f"records-{uuid.uuid4().hex[:12]}-"

    @pytest.fixture
    async def store(self, prefix: str) -> AsyncIterator[ElasticsearchStore]:
        store = ElasticsearchStore.from_url(ELASTICSEARCH_URL, prefix=prefix)
        try:
            yield store
        finally:
            found = await store.client.indices.get(index=f"{prefix}*", allow_no_indices=True)
            if found.body:
                await store.client.indices.delete(index=sorted(found.body))
            await store.close()

    @pytest.fixture
    async def other(self, store: Store, prefix: str) -> AsyncIterator[ElasticsearchStore]:
        """A second client on the same indices, as another process would have."""
        other = ElasticsearchStore.from_url(ELASTICSEARCH_URL, prefix=prefix)
        try:
            yield other
        finally:
            await other.close()
