"""The fan-out consults the follows view, which may be behind the log (services/fanout.py).

The runner waits for the views it reads, but only so long (`TRIBE_FANOUT_WAIT`): a follows view
that is down makes it decide on what the view holds. Here the follows view fails (and is
retried) while a reader follows an author and the author publishes: the fan-out delivers the
article to nobody, and the feed still shows it once the view has caught up, through the pull of
the authors the reader followed in the last minutes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from aiohttp.test_utils import TestClient

from api.requests import PORTS
from events.catalogue import Event, UserFollowed
from events.log import Position
from events.routing import FOLLOWS, partitions
from projections.views import FOLLOWS_VIEW, VIEWS
from reducers.base import Body, DocKey
from reducers.follows import FollowsReducer
from tests.e2e.conftest import Api, auth
from tribe.bootstrap import create_app
from tribe.settings import Settings


class Stalled(FollowsReducer):
    """The follows reducer, failing on follows while `stalled`: the view stays behind the log and is retried."""

    stalled = True

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        if self.stalled and isinstance(event, UserFollowed):
            raise RuntimeError("the follows view is down")
        return super().apply(event, docs)


async def test_a_fan_out_on_a_stale_follows_view_is_covered_by_the_recent_follow_pull(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    reducer = Stalled()
    views = tuple(dataclasses.replace(v, reducer=reducer) if v is FOLLOWS_VIEW else v for v in VIEWS)
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, projection_retries=100_000,
        projection_backoff=0.02, fanout_wait=0.2, write_wait=0.2,
    )
    api = Api(await aiohttp_client(create_app(settings, views=views)), settings.data_dir)
    ann, ben = await api.register("ann"), await api.register("ben")
    r = await api.client.post("/api/profiles/ann/follow", headers=auth(ben))
    assert r.status == 200, await r.text()
    assert r.headers["X-Tribe-Read-Model"] == "behind"
    await api.decided()  # the follow's backfill: ann has published nothing yet
    await api.publish(ann, "Fresh")
    await api.decided()  # the publication's fan-out, on a follows view that does not show ben's follow
    ports = api.client.app[PORTS]
    ben_id = await ports.reads.holder("username", "ben")
    assert ben_id is not None
    assert await ports.timelines.timeline(ben_id, 10, by_author=False) == []

    reducer.stalled = False
    heads = await ports.writer.log.end_offsets([(FOLLOWS, p) for p in range(partitions(FOLLOWS))])
    caught_up = [Position(FOLLOWS, p, head - 1) for (_, p), head in heads.items() if head]
    assert await ports.writer.progress.wait(caught_up, 20)
    r = await api.client.get("/api/articles/feed", headers=auth(ben))
    body = await r.json()
    assert [a["title"] for a in body["articles"]] == ["Fresh"]
    assert await ports.timelines.timeline(ben_id, 10, by_author=False) == []  # pulled, not delivered
