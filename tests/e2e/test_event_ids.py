"""Client event ids on POST /v1/events (issue 13 item 6): scoped by actor, a changed payload is a 409,
and a batch the log took only in part is answered with exactly which events are durable.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from api.requests import PORTS
from events.adapters.sqlite_log import SqliteLog
from events.log import LogUnavailable, Position, Record
from events.routing import ARTICLES, partitions
from tests.e2e.conftest import Api, auth
from tests.sealed import sealed_codec
from tribe.bootstrap import create_app
from tribe.settings import Settings

Json = dict[str, Any]


def view(article_id: str, event_id: str) -> Json:
    return {"type": "ArticleViewed", "article_id": article_id, "event_id": event_id}


async def publish(api: Api, token: str, title: str = "A title") -> str:
    """An article published through /v1, which answers with its id."""
    r = await api.client.post("/v1/articles", json={"title": title, "body": "b"}, headers=auth(token))
    assert r.status == 201, await r.text()
    return str((await r.json())["article"]["id"])


async def post_events(api: Api, token: str, events: list[Json]) -> tuple[int, Json]:
    r = await api.client.post("/v1/events", json=events, headers=auth(token))
    return r.status, await r.json()


async def test_the_same_client_event_id_from_two_users_names_two_events(api: Api) -> None:
    """Before: ben's event was dropped, and ben was answered 202 with ann's position."""
    ann, ben = await api.register("ann"), await api.register("ben")
    article = await publish(api, ann)
    before = await api.log_size()
    status, by_ann = await post_events(api, ann, [view(article, "shared-id-0001")])
    assert status == 202
    status, by_ben = await post_events(api, ben, [view(article, "shared-id-0001")])
    assert status == 202
    assert by_ann["events"][0]["position"] != by_ben["events"][0]["position"]
    assert await api.log_size() == before + 2
    # Each one's retry is still recognised as theirs: the same position, nothing appended.
    assert await post_events(api, ben, [view(article, "shared-id-0001")]) == (202, by_ben)
    assert await api.log_size() == before + 2


async def test_the_same_event_id_from_the_same_user_with_another_payload_is_a_409(api: Api) -> None:
    """Before: the second event was dropped and answered 202 with the first one's position."""
    ann = await api.register("ann")
    one, other = await publish(api, ann, "One"), await publish(api, ann, "Other")
    status, _ = await post_events(api, ann, [view(one, "ann-event-0001")])
    assert status == 202
    before = await api.log_size()
    status, body = await post_events(api, ann, [view(other, "ann-event-0002"), view(other, "ann-event-0001")])
    assert status == 409, body
    assert list(body["errors"]) == ["events[1].event_id"]
    assert await api.log_size() == before  # nothing of the batch
    bump = {"type": "ArticleBumped", "article_id": one, "event_id": "ann-event-0001"}
    assert (await post_events(api, ann, [bump]))[0] == 409


async def test_two_users_following_with_one_client_event_id_are_both_delivered_the_backfill(api: Api) -> None:
    """Before: the fan-out named each backfill delivery `<follow's event id>.<article id>`, so ben's and cat's
    had one id under the fan-out's actor, the log refused cat's as a conflict and the fan-out dropped it."""
    ann, ben, cat = await api.register("ann"), await api.register("ben"), await api.register("cat")
    article = await publish(api, ann)
    await api.decided()  # delivered to nobody: only the follows' backfills deliver it
    ports = api.client.app[PORTS]
    ann_id = await ports.reads.holder("username", "ann")
    for token in (ben, cat):
        follow = {"type": "UserFollowed", "followee_id": ann_id, "event_id": "follow-ann-0001"}
        assert (await post_events(api, token, [follow]))[0] == 202
    await api.decided()
    heads = await ports.writer.log.end_offsets([(ARTICLES, p) for p in range(partitions(ARTICLES))])
    delivered = [Position(ARTICLES, p, end - 1) for (_, p), end in heads.items() if end]
    assert await ports.writer.progress.wait(delivered, 20)
    for reader in ("ben", "cat"):
        reader_id = str(await ports.reads.holder("username", reader))
        entries = await ports.timelines.timeline(reader_id, 10, by_author=True)
        assert [e["article_id"] for e in entries] == [article], reader


class KeepsRepeats(SqliteLog):
    """A log that, like Kafka, cannot tell a repeated event id: it appends every record it is given."""

    async def append(self, records: Sequence[Record]) -> list[Position]:
        return await super().append([dataclasses.replace(r, event_id=f"{r.event_id}-{uuid.uuid4().hex}")
                                     for r in records])


async def test_an_event_id_repeated_in_one_batch_is_one_event_even_on_a_log_that_keeps_repeats(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    """Before: Kafka took both copies, with one time and id, and the second counted as the first again."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    api = Api(await aiohttp_client(create_app(settings, log=KeepsRepeats(settings.data_dir / "log.db"))),
              settings.data_dir)
    ann, ben = await api.register("ann"), await api.register("ben")
    article = await publish(api, ann)
    before = await api.log_size()
    bump = {"type": "ArticleBumped", "article_id": article, "event_id": "ben-bump-0001"}
    r = await api.client.post(
        "/v1/events", json=[bump, view(article, "ben-view-0001"), bump, view(article, "ben-view-0001")],
        headers=auth(ben),
    )
    assert r.status == 202, await r.text()
    read = await api.client.get(
        f"/v1/articles/{article}", headers={**auth(ben), "X-Tribe-After": r.headers["X-Tribe-Position"]}
    )
    assert (await read.json())["article"]["counts"] == {"bumps": 1, "views": 1, "comments": 0}
    positions = [e["position"] for e in (await r.json())["events"]]
    assert positions[0] == positions[2] and positions[1] == positions[3] and positions[0] != positions[1]
    assert await api.log_size() == before + 2
    status, body = await post_events(api, ben, [view(article, "ben-view-0002"), dict(bump, event_id="ben-view-0002")])
    assert status == 409 and list(body["errors"]) == ["events[1].event_id"], body
    assert await api.log_size() == before + 2


class TakesHalf(SqliteLog):
    """A log that, once armed, keeps the first half of a batch and fails the rest, as Kafka can.

    The Kafka adapter does this on the real broker in tests/integration/test_kafka_log.py; here
    the API's answer to it is checked.
    """

    armed = False

    async def append(self, records: Sequence[Record]) -> list[Position]:
        if not self.armed:
            return await super().append(records)
        kept = await super().append(records[: len(records) // 2])
        missing: list[Position | None] = [None] * (len(records) - len(kept))
        raise LogUnavailable("delivery failed: broker gone", 2.0, (*kept, *missing))


async def test_a_batch_the_log_took_in_part_is_a_503_listing_exactly_the_durable_events(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40)
    log = TakesHalf(settings.data_dir / "log.db")
    api = Api(await aiohttp_client(create_app(settings, log=log)), settings.data_dir)
    ann = await api.register("ann")
    article = await publish(api, ann)
    ids = [f"ann-view-{n:04d}" for n in range(4)]
    log.armed = True
    r = await api.client.post("/v1/events", json=[view(article, e) for e in ids], headers=auth(ann))
    assert r.status == 503
    assert r.headers["Retry-After"] == "2"
    listed = (await r.json())["events"]
    assert [(e["event_id"], e["durable"]) for e in listed] == [(i, n < 2) for n, i in enumerate(ids)]
    codec = sealed_codec()
    for item in listed[:2]:
        at = Position.parse(item["position"])
        [entry] = await log.read(at.topic, at.partition, at.offset, 1)
        assert (await codec.decode_batch([entry.value]))[0].event_id == item["event_id"]
    assert all("position" not in item for item in listed[2:])
