"""TRIBE_PARTITIONS on the embedded log: `tribe serve` routes by the configured counts, every view answers from
them (trending's buckets are per partition), and the log refuses to open under other counts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

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

    with sqlite3.connect(data_dir / "log.db") as db:
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
