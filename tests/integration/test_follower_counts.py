"""A user's follower count (projections/queries.py `SocialReads._followers`) on a store whose live follows view
predates the counters: after an upgrade, until `tribe replay follows` switches to the view that keeps them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.queries import SocialReads
from projections.store import Checkpoint, DocWrite
from projections.views import FOLLOWS_VIEW, VIEWS
from reducers.follows import FOLLOWER_COUNTS, follow_id

BEFORE_COUNTERS = dataclasses.replace(
    FOLLOWS_VIEW,
    version=3,
    collections={name: spec for name, spec in FOLLOWS_VIEW.collections.items() if name != FOLLOWER_COUNTS},
    documents={name: doc for name, doc in FOLLOWS_VIEW.documents.items() if name != FOLLOWER_COUNTS},
)


def follow(follower: str, followee: str, *, active: bool) -> dict[str, object]:
    return {
        "follower_id": follower,
        "followee_id": followee,
        "active": active,
        "updated_at": 1,
        "since": 1,
        "approved": False,
    }


async def test_stats_count_the_followers_while_the_live_follows_view_has_no_counters(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        await install(store, tuple(BEFORE_COUNTERS if view is FOLLOWS_VIEW else view for view in VIEWS))
        follows = (await store.aliases())["follows"]
        written = [
            DocWrite(follows, follow_id(follower, "star"), n + 1, follow(follower, "star", active=active))
            for n, (follower, active) in enumerate([("ann", True), ("ben", True), ("cat", False)])
        ]
        await store.write(written, Checkpoint("tests", {}))

        assert (await SocialReads(store).stats("star"))["followers"] == 2
    finally:
        await store.close()
