"""Figures 4 and 5: freshness (answer to visible) and reads, at a steady rate, over HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench import wrk
from bench.common import in_turns
from bench.ingest import requests as ingest_requests
from bench.procs import load, port_of
from bench.workload import Generated, Shape, slug

# Many articles, and every user follows 20 earlier ones, so feeds have something to merge.
READS_SHAPE = Shape(register_every=40, publish_every=4, window=2000, initial_users=25, follows_per_user=20)
STEADY_RATE = 1000.0


FRESH_BATCH = 10  # events per POST: 1,000 events/s as 100 requests/s


def freshness(
    url: str, site: Generated, tokens: list[str], seconds: float, warmup: float, workdir: Path
) -> dict[str, Any]:
    """POST a steady 1,000 events/s (100 requests/s of 10 events); after every answer, read it back.

    Half the reads carry the answer's positions as X-Tribe-After (answered once every event of
    the request is visible), half do not (the read's own latency under the same load).
    """
    return load(
        {
            "port": port_of(url),
            "mode": "open",
            "rate": STEADY_RATE / FRESH_BATCH,
            "duration": seconds,
            "warmup": warmup,
            "requests": ingest_requests(site, tokens, FRESH_BATCH),
            "freshness": {
                "every": 1,
                "read": {"method": "GET", "path": f"/api/articles/{slug(site.articles - 1)}", "headers": {}},
            },
        },
        workdir,
    )


def read_requests(site: Generated, tokens: list[str], kind: str, count: int = 400) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        headers = {"Authorization": f"Token {tokens[i % len(tokens)]}"}
        if kind == "feed":
            out.append({"method": "GET", "path": "/api/articles/feed", "headers": headers})
        else:
            n = site.articles - 1 - (i * 13) % min(site.articles, 2000)
            out.append({"method": "GET", "path": f"/api/articles/{slug(n)}", "headers": headers})
    return out


CAPACITY_CONCURRENCY = 16
"""Connections of the closed loop that measures how many reads a server answers per second."""
CAPACITY_ROUNDS = 3
"""Rounds of a capacity figure, the server's and its baseline's in turns (`capacities_in_turns`)."""


def read_capacity(
    url: str,
    site: Generated,
    tokens: list[str],
    kind: str,
    seconds: float,
    warmup: float,
    workdir: Path,
    server_cpu: Callable[[], float],
) -> dict[str, Any]:
    """Reads as fast as the server answers them: CAPACITY_CONCURRENCY connections, each sending as soon as answered.

    Driven by wrk when it is installed (bench/wrk.py), by bench/load.py otherwise: `generator`
    says which. Also the server's CPU per answer (`cpu_ms`, from `server_cpu`, its CPU seconds so
    far, read before and after; the warm-up's answers count too). The rate moves with whatever else
    the machine runs; the CPU a read costs moves much less, and is what a capacity target divides.
    """
    before = server_cpu()
    if wrk.available():
        port = port_of(url)
        requests = read_requests(site, tokens, kind)
        result = wrk.closed_loop(port, requests, CAPACITY_CONCURRENCY, seconds, warmup, workdir)
        answers = result["answers"]
    else:
        closed = {"mode": "closed", "concurrency": CAPACITY_CONCURRENCY}
        result = {**_reads(url, site, tokens, kind, closed, seconds, warmup, workdir), "generator": "bench/load.py"}
        answers = sum(result["statuses"].values())
    result["cpu_ms"] = (server_cpu() - before) * 1000 / answers
    return result


def capacities_in_turns(
    measures: Sequence[Callable[[], dict[str, Any]]], rounds: int = CAPACITY_ROUNDS
) -> list[dict[str, Any]]:
    """`read_capacity` measures, in turns (common.in_turns) `rounds` times; for each, the median of its rounds'
    rate and CPU per read, which leaves out a round that met a slow stretch of the machine alone."""

    async def run(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return measure()

    results = asyncio.run(in_turns([partial(run, m) for m in measures], rounds))
    return [
        {
            "rps": statistics.median(r["rps"] for r in measured),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in measured),
            "generator": measured[0]["generator"],
            "rounds": [{"rps": r["rps"], "cpu_ms": r["cpu_ms"]} for r in measured],
        }
        for measured in results
    ]


def steady_reads(
    url: str, site: Generated, tokens: list[str], kind: str, seconds: float, warmup: float, workdir: Path
) -> dict[str, Any]:
    return _reads(url, site, tokens, kind, {"mode": "open", "rate": STEADY_RATE}, seconds, warmup, workdir)


def _reads(
    url: str,
    site: Generated,
    tokens: list[str],
    kind: str,
    mode: dict[str, Any],
    seconds: float,
    warmup: float,
    workdir: Path,
) -> dict[str, Any]:
    """Load `url` with reads of `kind` in `mode` (the load generator's mode and its rate or connections)."""
    spec = {"port": port_of(url), **mode, "duration": seconds, "warmup": warmup}
    result = load({**spec, "requests": read_requests(site, tokens, kind)}, workdir)
    bad = {s: n for s, n in result["statuses"].items() if s != "200"}
    if bad:
        raise RuntimeError(f"{url}: {kind} reads answered {bad}")
    return result


async def bare_reads_db(store_db: Path, target: Path) -> None:
    """The plain tables the bare reads server answers from, made from the same read models."""
    from api import present
    from bench.bare import READS_SCHEMA
    from projections.adapters.sqlite_store import SqliteStore
    from replay.rebuild import all_docs
    from services.views import ArticleView, Profile

    store = SqliteStore(store_db)
    try:
        articles = await all_docs(store, "articles")
        users = await all_docs(store, "users")
        follows = await all_docs(store, "follows")
    finally:
        await store.close()
    conn = sqlite3.connect(target)
    conn.executescript(READS_SCHEMA)
    rows = []
    for _, doc in articles.values():
        if doc["deleted"] or doc["author_id"] not in users:
            continue
        author = Profile(users[doc["author_id"]][1], following=False)
        shown = present.article(ArticleView(doc, author, favorited=False))
        rows.append((doc["slug"], doc["author_id"], doc["created_at"], orjson.dumps(shown)))
    conn.executemany("INSERT INTO articles VALUES (?,?,?,?)", rows)
    conn.executemany(
        "INSERT OR IGNORE INTO follows VALUES (?,?)",
        [(d["follower_id"], d["followee_id"]) for _, (_, d) in follows.items() if d["active"]],
    )
    conn.commit()
    conn.close()
