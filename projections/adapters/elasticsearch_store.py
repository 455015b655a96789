"""The Elasticsearch Store adapter: one index per physical collection, behind aliases.

Names: a collection `articles_v1` is the index `<prefix>articles_v1` and the alias
`articles` is `<prefix>articles` (prefix `tribe-` by default); checkpoints live in
`<prefix>store-checkpoints`, a name no collection can have (collection names have no `-`).

Writes (see docs/elasticsearch.md for the reasons):
1. documents go in bulk with `version_type=external` and the DocWrite's version, so
   Elasticsearch keeps a write only if its version is greater; a version conflict is a
   stale write losing, as intended. Other per-item failures are retried (429, 5xx, up to
   `retries` times with backoff) or raised at once (other 4xx); nothing is dropped silently;
2. the indices written are refreshed, so searches see the documents;
3. only then the checkpoint is written: one document per (projection, topic, partition),
   a scripted upsert that only raises `next_offset`, with `refresh=true`. A reader that
   sees a checkpoint therefore sees, through search as through get, every document the
   batch wrote. (External versioning is not used for checkpoints: after a delete,
   Elasticsearch keeps the deleted version for `index.gc_deletes`, 60 s, so a checkpoint
   dropped and started again lower would be refused as stale.)
A crash between 1 and 3 leaves documents without their checkpoint; the batch is then
delivered again, and the versions make its writes no-ops.

A document Elasticsearch refuses for what it is (a 400: a field the strict mapping lacks, a
number out of range) raises `RefusedWrite`, the port's `DocumentRefused`: the runtimes park the
events behind it instead of retrying. A refusal that is the cluster's state, not the document's
(a closed or missing index, a write block: `dsl.NOT_THE_DOCUMENT`, any other 4xx) raises
`BulkWriteError`, which the runtimes retry: parking would file good events as dead letters.

A cluster that does not answer now (unreachable, timed out, 429, 5xx: `cluster_unavailable`)
raises StoreUnavailable from every operation, as a SQLite file that cannot be read does: the API
answers 503 with Retry-After and the runtimes retry the batch.

Fingerprints, runner statuses and dead letters live in `<prefix>store-fingerprints`,
`<prefix>store-statuses` and `<prefix>store-dead-letters`, written with `refresh=true` so that
the next read of any process sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    BadRequestError,
    ConflictError,
    NotFoundError,
    SerializationError,
    TransportError,
)

from projections.adapters import elasticsearch_dsl as dsl
from projections.adapters.unavailable import unavailable_on
from projections.store import (
    Checkpoint,
    CollectionSpec,
    DeadLetter,
    Doc,
    DocumentRefused,
    DocWrite,
    Offsets,
    Page,
    Query,
    RunnerStatus,
    Store,
    StoreUnavailable,
)

DEFAULT_PREFIX = "tribe-"
_PREFIX = re.compile(r"^([a-z0-9][a-z0-9_.-]*)?$")


class BulkWriteError(RuntimeError):
    """Some writes of a bulk request failed for good; `failures` holds Elasticsearch's per-item results."""

    def __init__(self, message: str, failures: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{message}: {list(failures)[:3]}")
        self.failures = list(failures)


class RefusedWrite(BulkWriteError, DocumentRefused):
    """Elasticsearch refused documents for what they are (a 400 about the document: dsl.outcome)."""


def cluster_unavailable(exc: Exception) -> bool:
    """Whether a failure is the cluster not answering now (StoreUnavailable: a 503 at the API, a retried batch).

    A node that cannot be reached, resets the connection or times out (the transport's errors, after
    its own retries), or answers that it cannot now: 429 (rejected, overloaded) or a 5xx (no shard
    available, a master being elected). Other answers (4xx) say the request is wrong, and pass as they are.
    """
    if isinstance(exc, TransportError):
        return not isinstance(exc, SerializationError)
    return isinstance(exc, ApiError) and (exc.meta.status == 429 or exc.meta.status >= 500)


@unavailable_on(cluster_unavailable)
class ElasticsearchStore(Store):
    def __init__(
        self,
        client: AsyncElasticsearch,
        *,
        prefix: str = DEFAULT_PREFIX,
        retries: int = 3,
        backoff: float = 0.2,
        chunk_size: int = 1000,
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"bad index prefix {prefix!r}")
        self.client = client
        self.prefix = prefix
        self.retries = retries
        self.backoff = backoff
        self.chunk_size = chunk_size
        self.checkpoints_index = f"{prefix}store-checkpoints"
        self.fingerprints_index = f"{prefix}store-fingerprints"
        self.statuses_index = f"{prefix}store-statuses"
        self.dead_letters_index = f"{prefix}store-dead-letters"
        self._known: set[str] = set()
        self._checkpoints_ready = False
        self._records_ready: set[str] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ElasticsearchStore:
        """A store on a new client for `url` (credentials may be in it: https://user:pass@host:9200)."""
        return cls(AsyncElasticsearch(url), **options)

    def _index(self, name: str) -> str:
        return self.prefix + dsl.check_name(name)

    # -- collections and aliases -------------------------------------------------

    async def ensure_collection(self, name: str, spec: CollectionSpec) -> None:
        try:
            await self.client.indices.create(
                index=self._index(name), settings=dsl.index_settings(spec), mappings=dsl.mappings(spec)
            )
        except BadRequestError as e:
            if e.error != "resource_already_exists_exception":
                raise
        self._known.add(name)

    async def expunge(self) -> None:
        """Merge away the deleted copies Lucene keeps of overwritten documents, in every index of this store.

        A document that was overwritten is only marked deleted in its segment until a merge;
        `only_expunge_deletes` merges just the segments holding such copies, so the cost follows
        what was overwritten, and every one of them (dsl.EXPUNGE_EVERY_DELETE, set here too on
        indices created before it was in their settings). Every index is named, not those this
        object wrote: the workers share the indices, and the erasure runs in the one assigned
        `tribe.users`. The merge answers when it is done, minutes on a large index, so the call
        has no client timeout (a timed-out call would fail the erasure while the merge goes on).
        Snapshots taken before keep the documents (docs/privacy.md).
        """
        indices = f"{self.prefix}*"
        await self.client.indices.put_settings(
            index=indices, settings={"index": dsl.EXPUNGE_EVERY_DELETE}, allow_no_indices=True, ignore_unavailable=True
        )
        await self.client.options(request_timeout=None).indices.forcemerge(
            index=indices, only_expunge_deletes=True, allow_no_indices=True, ignore_unavailable=True
        )

    async def drop_collection(self, name: str) -> None:
        await self.client.indices.delete(index=self._index(name), ignore_unavailable=True)
        self._known.discard(name)

    async def _indices(self) -> dict[str, set[str]]:
        """Every index under the prefix with its aliases, all names without the prefix.

        Only the aliases are fetched (`features=aliases`): readers call this on every
        read-your-writes poll, and mappings and settings would make each answer heavy.
        """
        response = await self.client.indices.get(
            index=f"{self.prefix}*", features="aliases", allow_no_indices=True, ignore_unavailable=True
        )
        n = len(self.prefix)
        return {
            index[n:]: {a[n:] for a in body.get("aliases", {}) if a.startswith(self.prefix)}
            for index, body in response.body.items()
            if index.startswith(self.prefix)
        }

    async def collections(self) -> list[str]:
        return sorted(name for name in await self._indices() if dsl.NAME.match(name))

    async def aliases(self) -> dict[str, str]:
        return {
            alias: index
            for index, names in (await self._indices()).items()
            if dsl.NAME.match(index)
            for alias in names
            if dsl.NAME.match(alias)
        }

    async def set_aliases(self, targets: dict[str, str]) -> None:
        """One `_aliases` request: for each alias, remove it where it is and add it to its target.

        Removals carry `must_exist`, so if another process moved an alias since we looked,
        the whole request fails and nothing changes.
        """
        if not targets:
            return
        current = await self._indices()
        actions: list[dict[str, Any]] = []
        for alias, collection in targets.items():
            for index, names in current.items():
                if alias in names and index != collection:
                    actions.append(
                        {"remove": {"index": self.prefix + index, "alias": self._index(alias), "must_exist": True}}
                    )
            actions.append({"add": {"index": self._index(collection), "alias": self._index(alias)}})
        await self.client.indices.update_aliases(actions=actions)

    # -- writes and checkpoints --------------------------------------------------

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if writes:
            indices = {w.collection: self._index(w.collection) for w in writes}
            await self._require(indices)
            await self._bulk(dsl.doc_actions(writes, indices), stale_ok=True, refresh=False, documents=True)
            await self.client.indices.refresh(index=sorted(set(indices.values())))
        if checkpoint.offsets:
            await self._ensure_checkpoints()
            await self._bulk(dsl.checkpoint_actions(self.checkpoints_index, checkpoint), stale_ok=False, refresh=True)

    async def _require(self, indices: dict[str, str]) -> None:
        """Refuse to write to a collection that was never ensured (bulk would auto-create it unmapped)."""
        for name, index in indices.items():
            if name in self._known:
                continue
            if not await self.client.indices.exists(index=index):
                raise KeyError(f"no collection or alias named {name!r}")
            self._known.add(name)

    async def _ensure_checkpoints(self) -> None:
        if self._checkpoints_ready:
            return
        try:
            await self.client.indices.create(
                index=self.checkpoints_index,
                settings={"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}},
                mappings=dsl.CHECKPOINT_MAPPINGS,
            )
        except BadRequestError as e:
            if e.error != "resource_already_exists_exception":
                raise
        self._checkpoints_ready = True

    async def _bulk(
        self, actions: Sequence[dsl.Action], *, stale_ok: bool, refresh: bool, documents: bool = False
    ) -> None:
        """Bulk in chunks; with `documents`, items failing for good raise RefusedWrite (the port's DocumentRefused)."""
        for chunk in dsl.chunks(actions, self.chunk_size):
            await self._bulk_chunk(chunk, stale_ok=stale_ok, refresh=refresh, documents=documents)

    async def _bulk_chunk(
        self, actions: Sequence[dsl.Action], *, stale_ok: bool, refresh: bool, documents: bool
    ) -> None:
        pending = list(actions)
        failures: list[dict[str, Any]] = []
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            options: dict[str, Any] = {"refresh": True} if refresh else {}
            response = await self.client.bulk(operations=dsl.operations(pending), **options)
            if not response["errors"]:
                return
            result = dsl.outcome(response["items"], stale_ok=stale_ok)
            if result.refused:
                refused = RefusedWrite if documents else BulkWriteError
                raise refused(f"{len(result.refused)} bulk writes refused", result.refused)
            if result.failed:
                raise BulkWriteError(f"{len(result.failed)} bulk writes failed", result.failed)
            if not result.retry:
                return
            failures = [next(iter(response["items"][i].values())) for i in result.retry]
            pending = [pending[i] for i in result.retry]
        raise BulkWriteError(f"{len(pending)} bulk writes still failing after {self.retries + 1} attempts", failures)

    async def checkpoint(self, projection: str) -> Offsets:
        try:
            response = await self.client.search(
                index=self.checkpoints_index, query={"term": {"projection": projection}}, size=10_000
            )
        except NotFoundError:
            return {}
        return dsl.offsets_from(response.body)

    async def drop_checkpoint(self, projection: str) -> None:
        try:
            await self.client.delete_by_query(
                index=self.checkpoints_index, query={"term": {"projection": projection}}, refresh=True
            )
        except NotFoundError:
            return

    # -- fingerprints, runner statuses and dead letters --------------------------------

    async def _records(self, index: str, mappings: dict[str, Any]) -> str:
        """The index, created on first use."""
        if index not in self._records_ready:
            try:
                await self.client.indices.create(
                    index=index,
                    settings={"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}},
                    mappings=mappings,
                )
            except BadRequestError as e:
                if e.error != "resource_already_exists_exception":
                    raise
            self._records_ready.add(index)
        return index

    async def _sources(self, index: str, query: dict[str, Any], sort: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Every matching document's source, page after page (search_after on the sort, which is unique)."""
        sources: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            params: dict[str, Any] = {"index": index, "query": query, "sort": sort, "size": 1000}
            if after is not None:
                params["search_after"] = after
            try:
                response = await self.client.search(**params)
            except NotFoundError:
                return sources
            hits = response["hits"]["hits"]
            sources += [h["_source"] for h in hits]
            if len(hits) < 1000:
                return sources
            after = hits[-1]["sort"]

    async def _delete(self, index: str, query: dict[str, Any]) -> None:
        try:
            await self.client.delete_by_query(index=index, query=query, refresh=True, conflicts="proceed")
        except NotFoundError:
            return

    async def claim_fingerprint(self, projection: str, fingerprint: str) -> str:
        index = await self._records(self.fingerprints_index, dsl.FINGERPRINT_MAPPINGS)
        with contextlib.suppress(ConflictError):  # recorded before, by this code or another
            await self.client.create(
                index=index, id=projection, document={"projection": projection, "fingerprint": fingerprint},
                refresh=True,
            )
        found = await self.client.get(index=index, id=projection)
        return str(found["_source"]["fingerprint"])

    async def fingerprints(self) -> dict[str, str]:
        sources = await self._sources(self.fingerprints_index, {"match_all": {}}, [{"projection": "asc"}])
        return {s["projection"]: s["fingerprint"] for s in sources}

    async def put_status(self, status: RunnerStatus) -> None:
        index = await self._records(self.statuses_index, dsl.STATUS_MAPPINGS)
        await self.client.index(
            index=index, id=dsl.status_id(status.projection, status.runner), document=dsl.status_source(status),
            refresh=True,
        )

    async def statuses(self) -> list[RunnerStatus]:
        order = [{"projection": "asc"}, {"runner": "asc"}]
        sources = await self._sources(self.statuses_index, {"match_all": {}}, order)
        return [RunnerStatus(**s) for s in sources]

    async def remove_statuses(self, projection: str, runners: Sequence[str]) -> None:
        if runners:
            ids = [dsl.status_id(projection, r) for r in runners]
            await self._delete(self.statuses_index, {"ids": {"values": ids}})

    async def park(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            index = await self._records(self.dead_letters_index, dsl.DEAD_LETTER_MAPPINGS)
            await self._bulk(dsl.park_actions(index, letters), stale_ok=True, refresh=True)

    async def put_dead_letter(self, letter: DeadLetter) -> None:
        index = await self._records(self.dead_letters_index, dsl.DEAD_LETTER_MAPPINGS)
        await self.client.index(
            index=index, id=dsl.dead_letter_id(letter), document=dsl.dead_letter_source(letter), refresh=True
        )

    async def dead_letters(self, projection: str | None = None) -> list[DeadLetter]:
        sources = await self._sources(
            self.dead_letters_index, dsl.projection_query(projection), dsl.DEAD_LETTER_ORDER
        )
        return [DeadLetter(**s) for s in sources]

    async def remove_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            await self._delete(self.dead_letters_index, {"ids": {"values": [dsl.dead_letter_id(x) for x in letters]}})

    async def drop_records(self, projection: str) -> None:
        for index in (self.fingerprints_index, self.statuses_index, self.dead_letters_index):
            await self._delete(index, dsl.projection_query(projection))

    # -- reads ---------------------------------------------------------------------

    async def get(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        return (await self.get_many({collection: ids}))[collection]

    async def get_many(self, ids: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Doc]]:
        """One multi-get for every collection: the answer lists the documents in the order asked."""
        asked = [(collection, doc_id) for collection, some in ids.items() for doc_id in some]
        found: dict[str, dict[str, Doc]] = {collection: {} for collection in ids}
        if not asked:
            return found
        docs = [{"_index": self._index(collection), "_id": doc_id} for collection, doc_id in asked]
        try:
            response = await self.client.mget(docs=docs)
        except NotFoundError as e:
            raise KeyError(f"no collection or alias named one of {sorted(ids)}") from e
        for (collection, doc_id), doc in zip(asked, response["docs"], strict=True):
            if "error" in doc:
                if doc["error"].get("type") == "index_not_found_exception":
                    raise KeyError(f"no collection or alias named {collection!r}")
                raise StoreUnavailable(f"the store cannot get {doc_id!r} in {collection!r} ({doc['error']})")
            if doc.get("found"):
                found[collection][doc["_id"]] = dsl.doc_from(doc)
        return found

    async def search(self, collection: str, query: Query) -> Page:
        try:
            response = await self.client.search(index=self._index(collection), **dsl.search_params(query))
        except NotFoundError as e:
            raise KeyError(f"no collection or alias named {collection!r}") from e
        return dsl.page_from(response.body, query)

    async def terms(self, collection: str, field: str, query: Query, size: int) -> list[tuple[str, int]]:
        try:
            response = await self.client.search(
                index=self._index(collection), **dsl.terms_params(field, query, max(size, 1))
            )
        except NotFoundError as e:
            raise KeyError(f"no collection or alias named {collection!r}") from e
        return dsl.terms_from(response.body)[: max(size, 0)]

    async def sum_of(self, collection: str, field: str, query: Query) -> float:
        try:
            response = await self.client.search(index=self._index(collection), **dsl.sum_params(field, query))
        except NotFoundError as e:
            raise KeyError(f"no collection or alias named {collection!r}") from e
        return dsl.sum_from(response.body)

    async def close(self) -> None:
        await self.client.close()
