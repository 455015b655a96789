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
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

from projections.adapters import elasticsearch_dsl as dsl
from projections.store import Checkpoint, CollectionSpec, Doc, DocWrite, Offsets, Page, Query, Store

DEFAULT_PREFIX = "tribe-"
_PREFIX = re.compile(r"^([a-z0-9][a-z0-9_.-]*)?$")


class BulkWriteError(RuntimeError):
    """Some writes of a bulk request failed for good; `failures` holds Elasticsearch's per-item results."""

    def __init__(self, message: str, failures: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{message}: {list(failures)[:3]}")
        self.failures = list(failures)


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
        self._known: set[str] = set()
        self._checkpoints_ready = False

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
            await self._bulk(dsl.doc_actions(writes, indices), stale_ok=True, refresh=False)
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

    async def _bulk(self, actions: Sequence[dsl.Action], *, stale_ok: bool, refresh: bool) -> None:
        for start in range(0, len(actions), self.chunk_size):
            await self._bulk_chunk(actions[start : start + self.chunk_size], stale_ok=stale_ok, refresh=refresh)

    async def _bulk_chunk(self, actions: Sequence[dsl.Action], *, stale_ok: bool, refresh: bool) -> None:
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

    # -- reads ---------------------------------------------------------------------

    async def get(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        if not ids:
            return {}
        try:
            response = await self.client.mget(index=self._index(collection), ids=list(ids))
        except NotFoundError as e:
            raise KeyError(f"no collection or alias named {collection!r}") from e
        found: dict[str, Doc] = {}
        for doc in response["docs"]:
            if "error" in doc:
                if doc["error"].get("type") == "index_not_found_exception":
                    raise KeyError(f"no collection or alias named {collection!r}")
                raise RuntimeError(f"mget of {doc.get('_id')!r} in {collection!r} failed: {doc['error']}")
            if doc.get("found"):
                found[doc["_id"]] = dsl.doc_from(doc)
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
