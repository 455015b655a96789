"""Figure 2, projection: events/s through the articles and follows views.

Embedded: the EmbeddedRuntime (Projector, fold, SQLite store in one transaction per batch)
over a pre-filled SQLite log. Its baseline is the CPU ceiling: a plain loop that decodes the
same Avro bytes with fastavro and updates a dict (views, bumpers, comments per article; who
follows whom), with no store at all. The runtime opens the sealed personal fields (titles,
bodies, comments) as it folds them; the keys it needs are loaded before it is timed, as the
ceiling loads none.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from fastavro import schemaless_reader

from events.routing import ARTICLES, FOLLOWS

TOPICS = (ARTICLES, FOLLOWS)


def log_values(log_db: Path, topics: Iterable[str] = TOPICS) -> list[bytes]:
    """Every value of these topics in an embedded log file, partition by partition."""
    conn = sqlite3.connect(log_db)
    try:
        marks = ",".join("?" * len(tuple(topics)))
        return [
            v
            for (v,) in conn.execute(
                f"SELECT value FROM log WHERE topic IN ({marks}) ORDER BY topic, partition, offset", tuple(topics)
            )
        ]
    finally:
        conn.close()


class Counter:
    """The counting job: decode an event's Avro bytes with fastavro and fold it into plain dicts.

    It counts with ids alone and never needed a personal field's value, so it leaves the sealed
    ones closed: they decode as the bytes of a `sealed` map (their clear fields empty), and
    opening them would add work the job has no use for. Its codec only gives it the schemas.
    """

    def __init__(self) -> None:
        from events.codec import EventCodec

        self.known = {fp: s.parsed for fp, s in EventCodec().known.items()}
        self.articles: dict[str, list] = {}
        self.comments: dict[int, bool] = {}
        self.follows: dict[tuple[str, str], bool] = {}
        self.seen = 0

    def add(self, value: bytes) -> None:
        self.seen += 1
        record = schemaless_reader(io.BytesIO(value[10:]), self.known[value[2:10]], None)
        env = record["envelope"]
        kind = env["type"]
        if kind == "UserFollowed" or kind == "UserUnfollowed":
            self.follows[(env["actor_id"], record["followee_id"])] = kind == "UserFollowed"
            return
        if "article_id" not in record:
            return
        a = self.articles.get(record["article_id"])
        if kind == "ArticlePublished":
            if a is None:
                self.articles[record["article_id"]] = [0, set(), set(), record]
            return
        if a is None:
            return
        if kind == "ArticleViewed":
            a[0] += 1
        elif kind == "ArticleBumped":
            a[1].add(env["actor_id"])
        elif kind == "ArticleUnbumped":
            a[1].discard(env["actor_id"])
        elif kind == "CommentPosted":
            a[2].add(record["comment_id"])
            self.comments[record["comment_id"]] = True
        elif kind == "CommentDeleted":
            a[2].discard(record["comment_id"])
            self.comments[record["comment_id"]] = False


def count(values: list[bytes]) -> tuple[int, float]:
    """The CPU ceiling: the counting job over values already in memory. Returns (events, seconds)."""
    counter = Counter()
    add = counter.add
    started = time.perf_counter()
    for value in values:
        add(value)
    return len(values), time.perf_counter() - started


async def embedded(data_dir: Path) -> tuple[int, float]:
    """Project the articles and follows views from a filled log into a fresh store. (events, seconds)."""
    from bench.keys import codec as run_codec
    from bench.keys import load_keys
    from events.adapters.sqlite_log import SqliteLog
    from projections.adapters.sqlite_store import SqliteStore
    from projections.embedded import EmbeddedRuntime
    from projections.live import install
    from projections.views import VIEWS

    views = tuple(v for v in VIEWS if v.name in ("articles", "follows"))
    log = SqliteLog(data_dir / "log.db")
    store = SqliteStore(data_dir / "projection-store.db")
    codec = run_codec()
    try:
        await install(store, views)
        await load_keys(codec, log, TOPICS)
        runtime = EmbeddedRuntime(log, store, codec, views)
        started = time.perf_counter()
        done = 0
        while n := await runtime.run_once():
            done += n
        return done, time.perf_counter() - started
    finally:
        await log.close()
        await store.close()
        await codec.close()
