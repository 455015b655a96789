"""TRIBE_PARTITIONS on the embedded log: `tribe serve` routes by the configured counts, every view answers from
them (trending's buckets are per partition), the log refuses to open under other counts, and a log copied into
one with new counts (`tribe log copy`) and replayed answers as the old one did."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from events.log import Position
from events.routing import ARTICLES, Topology, partition_for
from tests.e2e.server import TribeProcess, free_port, running_server
from tests.e2e.stream_client import Client, Received

THREE = "tribe.articles=3"


async def test_serve_with_three_article_partitions_routes_to_three_and_every_view_answers(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    install_topology(Topology.parse(THREE))  # this process reads the server's positions and stream ids
    data_dir = tmp_path / "data"
    env = {"TRIBE_PARTITIONS": THREE, "TRIBE_WRITE_WAIT": "30"}
    with running_server(data_dir, env=env) as server:
        async with aiohttp.ClientSession() as http:
            client = Client(http, server.url)
            ann, _ = await client.register("ann")
            ben, _ = await client.register("ben")
            cat, _ = await client.register("cat")
            for follower in (ben, cat):
                await client.call("POST", "/api/profiles/ann/follow", follower)
            tribe, _ = await client.call("POST", "/v1/tribes", ann, {"name": "Rally"})
            tribe_id = tribe["tribe"]["id"]
            await client.call("POST", f"/v1/tribes/{tribe_id}/join", ben)

            async with client.stream(await client.ticket(ann)) as sse:
                first: dict[int, tuple[str, str]] = {}  # partition -> its first article's title and slug
                titles = []
                while len(first) < 3:
                    assert len(titles) < 60, f"60 articles landed in partitions {sorted(first)} only"
                    title = f"Article {len(titles)}"
                    article_id, slug, position = await client.publish(ann, title, tribe_id)
                    at = Position.parse(position)
                    assert (at.topic, at.partition) == (ARTICLES, partition_for(ARTICLES, article_id))
                    assert at.partition < 3
                    first.setdefault(at.partition, (title, slug))
                    titles.append(title)
                (t0, s0), (t1, s1), (t2, s2) = first[0], first[1], first[2]
                for slug, bumpers in ((s0, (ben, cat)), (s1, (ben, cat)), (s2, (ben,))):
                    for bumper in bumpers:
                        await client.call("POST", f"/api/articles/{slug}/favorite", bumper)
                _, last = await client.call(
                    "POST", f"/api/articles/{s0}/comments", cat, {"comment": {"body": "fast"}}
                )
                assert last is not None
                received: list[Received] = [await sse.next()]
                while not received[-1].covers(last):
                    received.append(await sse.next())

            assert all(m.id.split("_")[0].count(".") == 2 for m in received), received[-1].id
            kinds = Counter(m.data["kind"] for m in received if m.event == "notification")
            assert kinds == {"bump": 5, "comment": 1}

            trending, _ = await client.call("GET", "/v1/trending?window=1h")
            assert [(a["article"]["title"], a["score"]) for a in trending["articles"]] == [(t0, 3), (t1, 2), (t2, 1)]
            listed, _ = await client.call("GET", "/api/articles?author=ann&limit=100")
            assert listed["articlesCount"] == len(titles)
            bumps = {a["slug"]: a["favoritesCount"] for a in listed["articles"]}
            assert (bumps[s0], bumps[s1], bumps[s2]) == (2, 2, 1) and sum(bumps.values()) == 5
            feed, _ = await client.call("GET", "/api/articles/feed?limit=100", ben)
            assert feed["articlesCount"] == len(titles)
            comments, _ = await client.call("GET", f"/api/articles/{s0}/comments")
            assert [c["body"] for c in comments["comments"]] == ["fast"]
            stats, _ = await client.call("GET", "/v1/users/ann/stats")
            assert stats["stats"] == {"followers": 2, "following": 0, "articles": len(titles), "bumps_received": 5}
            profile, _ = await client.call("GET", "/api/profiles/ann", ben)
            assert profile["profile"]["following"] is True
            got, _ = await client.call("GET", f"/v1/tribes/{tribe_id}")
            assert (got["tribe"]["member_count"], got["tribe"]["article_count"]) == (2, len(titles))
            notes, _ = await client.call("GET", "/v1/users/ann/notifications", ann)
            counted: Counter[str] = Counter()
            for note in notes["notifications"]:
                counted[note["kind"]] += note["actor_count"]
            assert counted == {"bump": 5, "comment": 1, "follow": 2}
            # Only the three partitions exist: a position on a fourth names nothing this log has.
            async with http.get(server.url + "/api/articles", headers={"X-Tribe-After": f"{ARTICLES}:3:0"}) as r:
                assert r.status == 400, await r.text()

    with contextlib.closing(sqlite3.connect(data_dir / "log.db")) as db:
        partitions = {p for (p,) in db.execute("SELECT DISTINCT partition FROM log WHERE topic = ?", (ARTICLES,))}
    assert partitions == {0, 1, 2}

    # The log keeps the counts it was created with: a server with the defaults refuses it in one line.
    args = ["serve", "--data-dir", str(data_dir), "--port", str(free_port())]
    refused = TribeProcess(args, tmp_path / "refused.log").start()
    assert refused.process is not None
    code = await asyncio.to_thread(refused.process.wait, 60)
    lines = [line for line in refused.output().splitlines() if line.startswith("tribe: ")]
    assert code == 2, refused.output()[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tribe: TRIBE_PARTITIONS: the log "), lines
    assert "created with tribe.articles=3, not tribe.articles=8" in lines[0]
    assert f"set TRIBE_PARTITIONS={THREE}," in lines[0]


def tribe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `tribe` command in its own process, as an operator runs it."""
    run_env = {**os.environ, "TRIBE_LOG_FORMAT": "json", **env}
    command = [sys.executable, "-m", "tribe", *args]
    return subprocess.run(command, capture_output=True, text=True, env=run_env, timeout=300)


async def answers(client: Client, token: str, author: str, slug: str) -> dict[str, Any]:
    """What the views say, as a client sees it."""
    return {
        "notifications": (await client.call("GET", "/v1/users/ann/notifications", author))[0],
        "trending": (await client.call("GET", "/v1/trending?window=1h"))[0]["articles"],
        "tags": (await client.call("GET", "/v1/trending?window=1h"))[0]["tags"],
        "articles": (await client.call("GET", "/api/articles?limit=100"))[0],
        "feed": (await client.call("GET", "/api/articles/feed?limit=100", token))[0],
        "comments": (await client.call("GET", f"/api/articles/{slug}/comments"))[0],
        "stats": (await client.call("GET", "/v1/users/ann/stats"))[0],
        "tribes": (await client.call("GET", "/v1/tribes"))[0],
    }


def by_key(path: Path) -> dict[tuple[str, bytes], list[bytes]]:
    """Every key's values in its partition's order."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT topic, key, value FROM log ORDER BY topic, partition, offset").fetchall()
    values: dict[tuple[str, bytes], list[bytes]] = {}
    for topic, key, value in rows:
        values.setdefault((topic, key), []).append(value)
    return values


async def test_a_log_copied_with_new_counts_and_replayed_answers_as_the_old_one_did(
    tmp_path: Path, install_topology: Callable[[Topology], None]
) -> None:
    secret = {"TRIBE_JWT_SECRET": "partitions-test-" + "x" * 40, "TRIBE_WRITE_WAIT": "30"}
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    async with aiohttp.ClientSession() as http:
        with running_server(old_dir, env=secret) as server:
            client = Client(http, server.url)
            ann, _ = await client.register("ann")
            ben, _ = await client.register("ben")
            await client.call("POST", "/api/profiles/ann/follow", ben)
            tribe_answer, _ = await client.call("POST", "/v1/tribes", ann, {"name": "Rally"})
            slugs = [(await client.publish(ann, f"Article {n}", tribe_answer["tribe"]["id"]))[1] for n in range(12)]
            for slug in slugs[:6]:
                await client.call("POST", f"/api/articles/{slug}/favorite", ben)
                await client.call("POST", f"/api/articles/{slug}/comments", ben, {"comment": {"body": "yes"}})
            before = await answers(client, ben, ann, slugs[0])

        env = {**secret, "TRIBE_PARTITIONS": THREE}
        new_log = f"sqlite:///{new_dir / 'log.db'}"
        copied = tribe("log", "copy", "--from", f"sqlite:///{old_dir / 'log.db'}", "--log", new_log, env=env)
        assert copied.returncode == 0, copied.stderr
        assert copied.stdout.startswith("copied ") and "(0 entries that are no event)" in copied.stdout
        again = tribe("log", "copy", "--from", f"sqlite:///{old_dir / 'log.db'}", "--log", new_log, env=env)
        refusal = "Error: the new log already holds events: copy into a log that has none"
        assert again.returncode == 1 and again.stderr.strip().splitlines()[-1] == refusal, again.stderr
        install_topology(Topology.parse(THREE))
        assert by_key(new_dir / "log.db") == by_key(old_dir / "log.db")  # every key's events, in their order
        with contextlib.closing(sqlite3.connect(new_dir / "log.db")) as db:
            placed = db.execute("SELECT key, partition FROM log WHERE topic = ?", (ARTICLES,)).fetchall()
        assert all(p == partition_for(ARTICLES, key.decode()) for key, p in placed)

        rebuilt = tribe("replay", "--all", "--data-dir", str(new_dir), env=env)
        assert rebuilt.returncode == 0, rebuilt.stderr
        with running_server(new_dir, env=env) as server:
            client = Client(http, server.url)
            assert await answers(client, ben, ann, slugs[0]) == before
            old_ids = {c["id"] for c in before["comments"]["comments"]}
            body = {"comment": {"body": "new"}}
            answer, _ = await client.call("POST", f"/api/articles/{slugs[0]}/comments", ben, body)
            assert answer["comment"]["id"] > max(old_ids)  # id blocks go on past the old log's
