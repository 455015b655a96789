"""Faults stay local on the embedded runtime: a failing view, poison events parked by key, code fencing.

The Kafka engine runs the same cases on a real broker (test_runtime_contract.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from api.requests import PORTS
from events.adapters.sqlite_log import SqliteLog
from events.catalogue import Event, UserFollowed
from events.log import Log
from events.routing import FOLLOWS, partition_for
from projections.adapters.sqlite_store import SqliteStore
from projections.dead_letters import DeadLetters
from projections.embedded import EmbeddedRuntime
from projections.failures import Retry
from projections.fingerprint import fingerprint
from projections.live import install
from projections.store import Store
from projections.views import ARTICLES_VIEW, FOLLOWS_VIEW, NOTIFICATIONS_VIEW, VIEWS
from reducers.base import Body, DocKey
from reducers.follows import FollowsReducer, follow_id, follower_count_id
from replay.rebuild import all_docs, rebuild
from replay.versions import status
from tests.integration.fault_check import (
    first_poison,
    once_released,
    only_poison,
    per_key,
    replay_without,
    while_parked,
)
from tests.integration.faulty_views import (
    FAULTS,
    POISON,
    NotificationsDown,
    broken_notifications,
    faulty_views,
    fixed,
    garbage,
    old_code_views,
)
from tests.integration.projection_check import differences, documents, replay_from_zero, total_lag
from tests.integration.workload import burst
from tests.sealed import key_environment, records_of_events, sealed_codec
from tribe.bootstrap import create_app
from tribe.settings import Settings

CODEC = sealed_codec()
FAST = Retry(retries=2, backoff=0.02)
CAUSES = {"undecodable": "Undecodable", "reducer": "ReducerFailed: ValueError", "refused": "DocumentRefused"}


async def drive(runtimes: Sequence[EmbeddedRuntime], until: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """Run the runtimes' passes and ticks until `until()` holds."""
    deadline = time.monotonic() + timeout
    while True:
        for runtime in runtimes:
            await runtime.run_once()
            for feeder in runtime.feeders:
                await feeder.tick()
        if await until():
            return
        assert time.monotonic() < deadline, "the runtime never got there"
        await asyncio.sleep(0.02)


def caught_up(log: Log, store: Store) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await total_lag(log, store) == 0

    return check


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    yield log
    await log.close()


async def view_state(log: Log, store: Store, view: str) -> dict[str, Any]:
    """The live version of `view` as `tribe replay status --json` shows it."""
    found = next(v for v in await status(log, store, VIEWS) if v.view == view)
    return next(dict(v.as_json()) for v in found.versions if v.live)


# -- 1. a failing view is retried and reported, the others go on -----------------------------------


async def test_a_failing_view_is_retried_and_reported_while_the_others_go_on(
    log: SqliteLog, tmp_path: Path
) -> None:
    store = NotificationsDown(tmp_path / "store.db")
    reader = SqliteStore(tmp_path / "store.db")  # `tribe replay status`, in another process
    try:
        await install(store, VIEWS)
        await log.append(await records_of_events(CODEC, burst(800, seed=21)))
        runtime = EmbeddedRuntime(log, store, CODEC, VIEWS, retry=FAST, runner="serve-1")

        async def all_but_notifications() -> bool:
            lags = {v.view: v.versions for v in await status(log, reader, VIEWS)}
            return all(s.total_lag == 0 for name, versions in lags.items() if name != "notifications" for s in versions
                       if s.live)

        await drive([runtime], all_but_notifications)
        failing = await view_state(log, reader, "notifications")
        assert failing["state"] == "retrying" and sum(failing["lag"].values()) > 0
        (runner,) = failing["runners"]
        assert runner["runner"] == "serve-1" and runner["state"] == "retrying" and runner["attempts"] >= 1
        assert "ConnectionError: the notifications index does not answer" in runner["error"]
        assert (await view_state(log, reader, "users"))["state"] == "running"
        clean = await documents(await replay_from_zero(log, tmp_path / "clean.db"))
        mine = await documents(reader)
        assert {a: mine[a] for a in ("users", "handles", "articles", "follows")} == {
            a: clean[a] for a in ("users", "handles", "articles", "follows")
        }

        store.down = False
        await drive([runtime], caught_up(log, reader))
        assert differences(await documents(reader), clean) == []
        healed = await view_state(log, reader, "notifications")
        assert healed["state"] == "running" and healed["runners"][0]["error"] is None
        assert await reader.dead_letters() == [], "a failure that is no event's fault parks nothing"
    finally:
        await store.close()
        await reader.close()


async def test_a_bug_in_the_notifications_reducer_leaves_registration_and_login_working(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 40, projection_retries=1, projection_backoff=0.01
    )
    views = broken_notifications()
    client = await aiohttp_client(create_app(settings, views=views))
    user = {"username": "ann", "email": "ann@example.com", "password": "long-enough-pw"}
    registered = await client.post("/api/users", json={"user": user})
    assert registered.status == 201, await registered.text()
    login = await client.post("/api/users/login", json={"user": {"email": user["email"], "password": user["password"]}})
    assert login.status == 200, await login.text()
    token = (await login.json())["user"]["token"]
    other = {"username": "ben", "email": "ben@example.com", "password": "long-enough-pw"}
    assert (await client.post("/api/users", json={"user": other})).status == 201
    # A follow feeds the broken view too: its events are parked, so the write still completes.
    followed = await client.post("/api/profiles/ben/follow", headers={"Authorization": f"Token {token}"})
    assert followed.status in (200, 202), await followed.text()
    store = SqliteStore(settings.data_dir / "store.db")
    try:
        deadline = time.monotonic() + 20
        while not await store.dead_letters():
            assert time.monotonic() < deadline, "the notifications view never parked the follow"
            await asyncio.sleep(0.05)
        letters = await store.dead_letters()
        assert {x.projection for x in letters} == {NOTIFICATIONS_VIEW.projection_id()}
        assert letters[0].state == "failed" and "a bug in the notifications reducer" in letters[0].cause
        ids = [str(await client.app[PORTS].reads.holder("username", u)) for u in ("ann", "ben")]
        assert (await store.get("follows", [":".join(ids)])) != {}, "the follows view did not wait for notifications"
    finally:
        await store.close()


# -- 2. poison events are parked with their key's later events; every other key goes on -----------


async def poisoned_log(log: SqliteLog, fault: str) -> None:
    """The workload with POISON's events; for `undecodable`, bytes that are no event among them."""
    records = await records_of_events(CODEC, burst(3000, seed=31, articles=20))
    if fault == "undecodable":
        poison_at = [i for i, r in enumerate(records) if r.key == POISON.encode()]
        records.insert(poison_at[len(poison_at) // 3], garbage())
    await log.append(records)


@pytest.mark.parametrize("fault", FAULTS)
async def test_poison_events_are_parked_with_their_key_and_every_other_key_goes_on(
    log: SqliteLog, tmp_path: Path, fault: str
) -> None:
    await poisoned_log(log, fault)
    views = faulty_views(fault)
    store = SqliteStore(tmp_path / "store.db")
    try:
        runtime = EmbeddedRuntime(log, store, CODEC, views, retry=FAST, batch_size=400, runner="serve-1")
        await install(store, views)
        await drive([runtime], caught_up(log, store))

        at = await first_poison(log, fault)
        letters = await store.dead_letters()
        parked = only_poison(letters, at)
        every_reader = {"articles", "notifications", "trending", "timelines", "moderation"}
        assert set(parked) == (every_reader if fault == "undecodable" else {"articles"})
        assert all(states[0] == "failed" and set(states[1:]) == {"behind"} and len(states) > 3
                   for states in parked.values()), parked
        head = next(x for x in letters if x.state == "failed" and x.projection.startswith("articles"))
        assert head.attempts == FAST.retries + 1 and head.first_failed_at <= head.last_failed_at
        assert CAUSES[fault] in head.cause, head.cause
        card = (await store.get("articles", [POISON]))[POISON]
        assert card.version <= at, "POISON's card took an event after the parked one"
        assert differences(await documents(store), await while_parked(log, tmp_path / "clean.db", fault)) == []
        state = await view_state(log, store, "articles")
        assert state["state"] == "parked" and state["dead_letters"] == len(parked["articles"])
        assert state["runners"][0]["state"] == "parked"

        fixed(views)
        dead_letters = DeadLetters(log, store, CODEC, views)
        for failed in [x for x in letters if x.state == "failed"]:
            retried = await (dead_letters.skip if fault == "undecodable" else dead_letters.retry)(failed.id)
            view = failed.projection.rsplit("_v", 1)[0]
            assert retried.failed is None and len(retried.applied) == len(parked[view]) - (fault == "undecodable")
        assert await store.dead_letters() == []
        released = await once_released(log, tmp_path / "released.db", fault)
        assert differences(per_key(await documents(store)), per_key(released)) == []
        await drive([runtime], lambda: _running(log, store))
    finally:
        await store.close()


async def test_events_parked_behind_a_key_released_meanwhile_are_replayed_by_the_runtime(
    log: SqliteLog, tmp_path: Path
) -> None:
    await poisoned_log(log, "reducer")
    views = faulty_views("reducer")
    store = SqliteStore(tmp_path / "store.db")
    try:
        runtime = EmbeddedRuntime(log, store, CODEC, views, retry=FAST, runner="serve-1")
        await install(store, views)
        await drive([runtime], caught_up(log, store))
        (head,) = [x for x in await store.dead_letters() if x.state == "failed"]
        fixed(views)
        await DeadLetters(log, store, CODEC, views).skip(head.id)  # another process; the runtime has not seen it
        later = list(burst(3200, seed=31, articles=20))[3000:]  # the same workload, going on
        await log.append(await records_of_events(CODEC, later))
        await runtime.run_once()
        orphans = await store.dead_letters()
        assert orphans and {x.state for x in orphans} == {"behind"} and {x.key for x in orphans} == {POISON}
        await drive([runtime], lambda: _no_letters(store))
        skipped = (head.partition, head.offset)
        expected = await replay_without(
            log, tmp_path / "clean.db",
            lambda view, e: view == "articles" and (e.position.partition, e.position.offset) == skipped,
        )
        assert differences(per_key(await documents(store)), per_key(expected)) == []
    finally:
        await store.close()


class FollowsOfAnnFail(FollowsReducer):
    """The follows reducer with a bug on ann's follows (while `broken`)."""

    broken = True

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        if self.broken and event.actor_id == "ann":
            raise ValueError("a bug in the follows reducer, on a follow by ann")
        return super().apply(event, docs)


async def test_a_retry_says_which_documents_fed_by_several_keys_it_left_behind_and_a_replay_rebuilds_them(
    log: SqliteLog, tmp_path: Path
) -> None:
    partition = partition_for(FOLLOWS, "ann")
    bob = next(name for name in (f"bob{i}" for i in range(1000)) if partition_for(FOLLOWS, name) == partition)
    follows = [
        UserFollowed(event_id=f"f-{who}", actor_id=who, occurred_at=1, followee_id="star") for who in ["ann", bob]
    ]
    await log.append(await records_of_events(CODEC, follows))
    reducer = FollowsOfAnnFail()
    buggy = dataclasses.replace(FOLLOWS_VIEW, reducer=reducer)
    views = tuple(buggy if view.name == "follows" else view for view in VIEWS)
    store = SqliteStore(tmp_path / "store.db")
    counter = follower_count_id("star", partition)
    try:
        await install(store, views)
        await drive([EmbeddedRuntime(log, store, CODEC, views, retry=FAST)], caught_up(log, store))
        (parked,) = await store.dead_letters()
        assert parked.key == "ann" and (await store.get("follower_counts", [counter]))[counter].body["count"] == 1

        reducer.broken = False
        retried = await DeadLetters(log, store, CODEC, views).retry(parked.id)
        assert retried.applied == [parked] and retried.left_behind == ("follower_counts",) and retried.view == "follows"
        assert (await store.get("follows", [follow_id("ann", "star")]))[follow_id("ann", "star")].body["active"]
        # bob's follow moved the counter past ann's: the retry left it, as it said
        assert (await store.get("follower_counts", [counter]))[counter].body["count"] == 1

        await rebuild(log, store, CODEC, buggy)
        assert (await store.get("follower_counts", [counter]))[counter].body["count"] == 2
    finally:
        await store.close()


async def test_a_runtime_replaying_a_released_key_logs_the_documents_fed_by_several_keys_it_left_behind(
    log: SqliteLog, tmp_path: Path
) -> None:
    """Another process skips the parked head; the runtime, which has not seen that, parks ann's next follow behind
    it, then replays it and says, as a retry does, which collections other keys also feed and how to rebuild them."""

    def follow(star: str) -> UserFollowed:
        return UserFollowed(event_id=f"f-ann-{star}", actor_id="ann", occurred_at=1, followee_id=star)

    await log.append(await records_of_events(CODEC, [follow("star")]))
    reducer = FollowsOfAnnFail()
    views = tuple(dataclasses.replace(FOLLOWS_VIEW, reducer=reducer) if v.name == "follows" else v for v in VIEWS)
    store = SqliteStore(tmp_path / "store.db")
    try:
        await install(store, views)
        runtime = EmbeddedRuntime(log, store, CODEC, views, retry=FAST)
        await drive([runtime], caught_up(log, store))
        (head,) = await store.dead_letters()
        reducer.broken = False
        await DeadLetters(log, store, CODEC, views).skip(head.id)  # another process; the runtime has not seen it
        await log.append(await records_of_events(CODEC, [follow("moon")]))
        await runtime.run_once()
        assert [x.state for x in await store.dead_letters()] == ["behind"]
        with capture_logs() as logs:
            await drive([runtime], lambda: _no_letters(store))
        assert [line for line in logs if line["event"] == "shared_documents_left_behind"] == [
            {
                "event": "shared_documents_left_behind",
                "log_level": "warning",
                "view": "follows",
                "collections": ["follower_counts"],
                "rebuild": "tribe replay follows",
            }
        ]
        assert (await store.get("follows", [follow_id("ann", "moon")]))[follow_id("ann", "moon")].body["active"]
    finally:
        await store.close()


async def _no_letters(store: Store) -> bool:
    return not await store.dead_letters()


async def _running(log: Log, store: Store) -> bool:
    return (await view_state(log, store, "articles"))["state"] == "running"


# -- 3. code fencing: a switch while old code keeps running ---------------------------------------


async def test_after_a_switch_old_code_leaves_the_new_version_alone(log: SqliteLog, tmp_path: Path) -> None:
    old_views = old_code_views()
    old_articles = next(v for v in old_views if v.name == "articles")
    assert fingerprint(old_articles) != fingerprint(ARTICLES_VIEW)
    events = list(burst(2400, seed=41, articles=15))
    path = tmp_path / "store.db"
    old_store, new_store, replay_store = SqliteStore(path), SqliteStore(path), SqliteStore(path)
    old_log, new_log = SqliteLog(tmp_path / "log.db"), SqliteLog(tmp_path / "log.db")
    try:
        old = EmbeddedRuntime(old_log, old_store, CODEC, old_views, runner="old")
        await install(old_store, old_views)
        await log.append(await records_of_events(CODEC, events[:800]))
        await drive([old], caught_up(log, old_store))
        live = ARTICLES_VIEW.version

        # 1. The new code's runtime starts first: it leaves the old code's live version alone.
        new = EmbeddedRuntime(new_log, new_store, CODEC, VIEWS, runner="new")
        await drive([old, new], lambda: _runner_state(log, replay_store, live, "new", "fenced"))
        # 2. Replay with the new code, while both run and events keep coming; 3. switch.
        writing = asyncio.create_task(_append_slowly(log, events[800:1600]))
        running = asyncio.create_task(drive([old, new], lambda: _done(writing), timeout=60))
        result = await rebuild(log, replay_store, CODEC, ARTICLES_VIEW)
        assert result.switched and result.version == live + 1
        await running
        await log.append(await records_of_events(CODEC, events[1600:]))
        await drive([old, new], caught_up(log, replay_store))
        await drive([old, new], lambda: _runner_state(log, replay_store, live + 1, "old", "fenced"))

        # The new version holds what the new code writes, and nothing the old code wrote.
        clean = await replay_from_zero(log, tmp_path / "clean.db")
        try:
            for alias in ARTICLES_VIEW.collections:
                assert await all_docs(replay_store, ARTICLES_VIEW.physical(alias, live + 1)) == await all_docs(
                    clean, alias
                ), alias
        finally:
            await clean.close()
        versions = {v.version: v for v in next(v for v in await status(log, replay_store, VIEWS)
                                               if v.view == "articles").versions}
        assert versions[live + 1].fingerprint == fingerprint(ARTICLES_VIEW) and versions[live + 1].this_code
        assert versions[live].fingerprint == fingerprint(old_articles) and not versions[live].this_code
        assert {r.runner: r.state for r in versions[live + 1].runners} == {"old": "fenced", "new": "running"}
        # The old code's version was left alone by the new code: its titles are the old code's.
        titles = {d[1]["title"] for d in (await all_docs(replay_store, ARTICLES_VIEW.physical("articles", live)))
                  .values()}
        assert titles and all(t == t.upper() for t in titles)
    finally:
        for opened in (old_store, new_store, replay_store, old_log, new_log):
            await opened.close()


async def _append_slowly(log: Log, events: Sequence[Any]) -> None:
    for start in range(0, len(events), 40):
        await log.append(await records_of_events(CODEC, events[start : start + 40]))
        await asyncio.sleep(0.01)


async def _done(task: asyncio.Task[None]) -> bool:
    return task.done()


async def _runner_state(log: Log, store: Store, version: int, runner: str, state: str) -> bool:
    found = next(v for v in await status(log, store, VIEWS) if v.view == "articles")
    versions = {v.version: v for v in found.versions}
    return version in versions and any(r.runner == runner and r.state == state for r in versions[version].runners)



# -- `tribe dlq`, in a process of its own ----------------------------------------------------------------


def tribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tribe", *args], capture_output=True, text=True, timeout=120,
        env={"TRIBE_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin", **key_environment()},
    )


async def test_tribe_dlq_lists_shows_and_skips_and_refuses_other_code(log: SqliteLog, tmp_path: Path) -> None:
    await poisoned_log(log, "undecodable")
    store = SqliteStore(tmp_path / "store.db")
    try:
        runtime = EmbeddedRuntime(log, store, CODEC, VIEWS, retry=FAST)
        await install(store, VIEWS)
        await drive([runtime], caught_up(log, store))
    finally:
        await store.close()
    where = ("--data-dir", str(tmp_path))
    listed = tribe("dlq", "list", "--json", *where)
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    heads = [x for x in letters if x["state"] == "failed"]
    parked_views = sorted(x["projection"].rsplit("_v", 1)[0] for x in heads)
    assert parked_views == ["articles", "moderation", "notifications", "timelines", "trending"]
    shown = tribe("dlq", "show", heads[0]["id"], *where)
    assert shown.returncode == 0 and "undecodable bytes" in shown.stdout, shown.stdout + shown.stderr
    unknown = tribe("dlq", "retry", "articles_v1:tribe.articles:0:999999", *where)
    assert unknown.returncode != 0 and "no dead letter" in unknown.stderr
    for x in heads:
        skipped = tribe("dlq", "skip", x["id"], *where)
        assert skipped.returncode == 0 and "skipped" in skipped.stdout, skipped.stdout + skipped.stderr
    assert tribe("dlq", "list", *where).stdout.strip() == "no dead letters"


async def test_tribe_dlq_retry_refuses_a_version_built_by_other_code(log: SqliteLog, tmp_path: Path) -> None:
    await poisoned_log(log, "reducer")
    views = faulty_views("reducer")
    store = SqliteStore(tmp_path / "store.db")
    try:
        await install(store, views)
        await drive([EmbeddedRuntime(log, store, CODEC, views, retry=FAST)], caught_up(log, store))
        (head,) = [x for x in await store.dead_letters() if x.state == "failed"]
    finally:
        await store.close()
    refused = tribe("dlq", "retry", head.id, "--data-dir", str(tmp_path))
    assert refused.returncode != 0 and "built by other code" in refused.stderr, refused.stderr
