"""Growth figure: a batched get of 20 documents at random, as the embedded store grows from 10^4 documents.

A store in use is many times SQLite's own page cache (2 MB a connection), so most pages a feed's
batched get needs are not in it: what such a page costs is what this measures. Each size's
documents (card-sized, about 700 bytes of JSON) are written directly into a collection of their
own; then the same number of gets of 20 random ids are timed in CPU seconds, after as many
untimed ones, which bring the file into the OS page cache as a running server's would be.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.common import WRITE_CHUNK, fresh_db
from projections.adapters.sqlite_store import SqliteStore
from projections.store import Checkpoint, CollectionSpec, DocWrite

IDS = 20
SPEC = CollectionSpec(fields={"author_id": "keyword", "favorites_count": "long"})


def doc_id(n: int) -> str:
    return f"01HZ{n:022d}"


def _body(n: int) -> dict:
    return {"author_id": f"user-{n % 1_000}", "favorites_count": n % 97, "title": "t" * 80, "description": "d" * 560}


async def get_cost(workdir: Path, sizes: tuple[int, ...], gets: int = 10_000) -> list[tuple[int, float]]:
    """For each number of documents: (documents, CPU seconds of one get of IDS of them at random)."""
    out = []
    for size in sizes:
        store = SqliteStore(fresh_db(workdir, f"gets-{size}.db"))
        try:
            await store.ensure_collection("cards", SPEC)
            for start in range(0, size, WRITE_CHUNK):
                chunk = range(start, min(size, start + WRITE_CHUNK))
                await store.write([DocWrite("cards", doc_id(n), 1, _body(n)) for n in chunk], Checkpoint("bench", {}))
            rnd = random.Random(size)
            asks = [[doc_id(rnd.randrange(size)) for _ in range(IDS)] for _ in range(gets)]
            for ids in asks:
                if len(await store.get("cards", ids)) != len(set(ids)):
                    raise RuntimeError(f"a get at {size:,} documents missed some of {ids}")
            started = time.process_time()
            for ids in asks:
                await store.get("cards", ids)
            out.append((size, (time.process_time() - started) / gets))
        finally:
            await store.close()
    return out
