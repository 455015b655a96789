"""A celebrity with 100,000 followers publishes: the write costs what anybody's publish costs.

The hybrid feed (services/fanout.py) delivers an article to the timelines of an author's
followers only below the fan-out threshold (10,000 by default); a celebrity is marked an
outlier once and read by pull. This builds 100,000 follows in a real SQLite log, projects them
through the real runtime, counts the store writes each view makes for one ArticlePublished by
the celebrity and by an author nobody follows, and checks what the fan-out decides for each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp.test_utils import TestClient

from api.requests import PORTS
from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticlePublished, AudienceOutgrown, Event, UserFollowed, UserRegistered
from events.log import Record
from events.routing import ROUTES, partition_for
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.processor import Projector
from projections.queries import SocialReads
from projections.store import Checkpoint, DocWrite
from projections.timeline_queries import TimelineReads
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW, TRENDING_VIEW, VIEWS
from services.fanout import FanOut, FanOutPolicy
from services.fanout_runner import CHECKPOINT, fanout_partitions
from tests.e2e.conftest import auth
from tests.sealed import sealed_codec
from tribe.bootstrap import create_app
from tribe.settings import Settings

FOLLOWERS = 100_000
APPEND_BATCH = 20_000
PROJECT_BATCH = 25_000
CODEC = sealed_codec()
T0 = 1_700_000_000_000


def _record(event: Event) -> Record:
    route = ROUTES[event.type]
    key = route.key(event)
    return Record(route.topic, partition_for(route.topic, key), key.encode(), CODEC.encode(event), event.event_id)


def _fan(i: int) -> str:
    return f"fan{i:06d}"


class CountingStore(SqliteStore):
    """Our SQLite store, counting the documents handed to it per physical collection."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.written: dict[str, int] = {}

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        for w in writes:
            self.written[w.collection] = self.written.get(w.collection, 0) + 1
        await super().write(writes, checkpoint)


def _publish(author: str, article_id: str, at: int) -> ArticlePublished:
    return ArticlePublished(
        event_id=f"pub-{article_id}",
        actor_id=author,
        occurred_at=at,
        article_id=article_id,
        slug=article_id,
        title=f"News from {author}",
        description="d",
        body="b",
        tags=("news",),
    )


async def _publish_cost(
    log: SqliteLog, store: CountingStore, event: ArticlePublished
) -> tuple[dict[str, int], dict[str, int]]:
    """Append one publish and project just that entry through every view: the writes per view, reported and stored."""
    (position,) = await log.append([_record(event)])
    entries = await log.read(position.topic, position.partition, position.offset, 1)
    assert [e.position for e in entries] == [position]
    store.written = {}
    reported = {}
    for view in VIEWS:
        result = await Projector(store, CODEC, view).process(entries if position.topic in view.topics else [])
        reported[view.name] = result.writes
    return reported, dict(store.written)


async def test_a_celebrity_publish_costs_the_writes_of_anybodys(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    log = SqliteLog(settings.data_dir / "log.db")
    store = CountingStore(settings.data_dir / "store.db")
    assert settings.log.endswith("log.db") and settings.store.endswith("store.db")
    try:
        await install(store, VIEWS)
        await CODEC.prepare(_publish(u, f"a-{u}", T0) for u in ("celebrity", "nobody", _fan(0)))
        await log.append(
            [
                _record(
                    UserRegistered(
                        event_id=f"reg-{u}",
                        actor_id=u,
                        occurred_at=T0,
                        username=u,
                        email=f"{u}@x.io",
                        password_hash="h",
                    )
                )
                for u in ("celebrity", "nobody", _fan(0))
            ]
        )
        for start in range(0, FOLLOWERS, APPEND_BATCH):
            await log.append(
                [
                    _record(
                        UserFollowed(
                            event_id=f"follow-{i}", actor_id=_fan(i), occurred_at=T0 + 1, followee_id="celebrity"
                        )
                    )
                    for i in range(start, start + APPEND_BATCH)
                ]
            )
        await EmbeddedRuntime(log, store, CODEC, VIEWS, batch_size=PROJECT_BATCH).run_once()
        social = SocialReads(store)
        assert (await social.stats("celebrity"))["followers"] == FOLLOWERS
        assert (await social.stats("nobody"))["followers"] == 0

        celebrity = await _publish_cost(log, store, _publish("celebrity", "a-celebrity", T0 + 10))
        nobody = await _publish_cost(log, store, _publish("nobody", "a-nobody", T0 + 20))
        assert celebrity == nobody
        reported, stored = celebrity
        # One document each: the card, the notifications' index of the article, trending's article tags.
        assert reported == {
            "users": 0, "follows": 0, "articles": 1, "tribes": 0, "notifications": 1, "trending": 1, "timelines": 0,
            "moderation": 0,
        }
        assert stored == {
            ARTICLES_VIEW.physical("articles"): 1,
            NOTIFICATIONS_VIEW.physical("notification_articles"): 1,
            TRENDING_VIEW.physical("trend_articles"): 1,
        }

        # The fan-out delivers the celebrity's article to nobody: it marks the celebrity an outlier, once.
        fanout = FanOut(TimelineReads(store), FanOutPolicy(Settings().fanout_threshold))
        decided = await fanout.react(_publish("celebrity", "a-celebrity", T0 + 10))
        assert [(type(e), getattr(e, "source_id", None)) for e in decided] == [(AudienceOutgrown, "celebrity")]
        assert await fanout.react(_publish("nobody", "a-nobody", T0 + 20)) == []
        await log.append([_record(e) for e in decided])
        await EmbeddedRuntime(log, store, CODEC, VIEWS).run_once()
        assert await fanout.react(_publish("celebrity", "a-celebrity-2", T0 + 30)) == []
        heads = await log.end_offsets(fanout_partitions())
        await store.write([], Checkpoint(CHECKPOINT, heads))  # the history is decided: the app's runner starts here
    finally:
        await log.close()
        await store.close()

    # And over HTTP, a follower's ranked feed (the app starts on the same files, already caught up).
    client = await aiohttp_client(create_app(settings))
    token = client.app[PORTS].tokens.issue(_fan(0))
    r = await client.get("/v1/feed", headers=auth(token))
    assert r.status == 200, await r.text()
    items = (await r.json())["items"]
    assert [(c["id"], c["author"]["username"]) for c in items] == [("a-celebrity", "celebrity")]
