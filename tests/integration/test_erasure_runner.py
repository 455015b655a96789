"""The erasure runner on the embedded log: it passes over bytes that are no event and over views it does not need,
and reaches the versions kept beside the live one."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import ArticlePublished, Event, UserErased, UserRegistered, UserReported, UserUpdated
from events.codec import EventCodec
from events.log import Record
from events.routing import USERS
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.failures import Retry, troubled
from projections.live import install
from projections.views import ARTICLES_VIEW, VIEWS
from reducers.articles import ArticlesReducer
from replay.rebuild import rebuild
from services.erasure_runner import CHECKPOINT, ErasureRunner
from tests.integration.faulty_views import NotificationsDown
from tests.sealed import records_of_events, sealed_codec
from tribe.bootstrap import erasure_runner
from tribe.settings import Settings


def someone() -> str:
    """A user id of its own: the run's key store outlives each test, and an erased user's key stays destroyed."""
    return f"u-{uuid.uuid4().hex}"


def registered(user: str, at: int = 1) -> UserRegistered:
    return UserRegistered(event_id=f"r-{user}", actor_id=user, occurred_at=at, username=user.replace("-", ""),
                          email=f"{user}@gone.example", password_hash="h")


async def erased(user: str, codec: EventCodec) -> UserErased:
    """The erasure erase_account appends for a user `registered` made: it lists the handles they registered with."""
    joined = registered(user)
    handles = (await codec.handle_id("username", joined.username), await codec.handle_id("email", joined.email))
    return UserErased(event_id=f"x-{user}", actor_id=user, occurred_at=9, handles=handles)


def runner_of(log: SqliteLog, store: SqliteStore, codec: EventCodec, wait: float) -> ErasureRunner:
    runner = erasure_runner(Settings.from_env(), log, store, codec)
    runner.grace, runner.wait = 0.0, wait
    return runner


@contextlib.asynccontextmanager
async def projecting(runtime: EmbeddedRuntime) -> AsyncIterator[None]:
    running = asyncio.create_task(runtime.run())
    try:
        yield
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_bytes_that_are_no_event_do_not_stop_the_erasures_behind_them(tmp_path: Path) -> None:
    codec = sealed_codec()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        await install(store, VIEWS)
        registered = UserRegistered(event_id="r-gone", actor_id="u-gone-behind-poison", occurred_at=1,
                                    username="gonebehind", email="gone@behind.example", password_hash="h")
        erased = UserErased(event_id="x-gone", actor_id="u-gone-behind-poison", occurred_at=2)
        (first,) = await records_of_events(codec, [registered])
        (last,) = await records_of_events(codec, [erased])
        await log.append([first, Record(USERS, 0, b"poison", b"these bytes are not an event", "poison-id"), last])
        # The views reading tribe.users (users, and moderation, which the erasure reads) park the bytes.
        async with projecting(EmbeddedRuntime(log, store, codec, VIEWS, retry=Retry(retries=1, backoff=0.01))):
            assert await runner_of(log, store, codec, wait=20.0).run_once() == 3
        assert (await store.checkpoint(CHECKPOINT)) == {(USERS, 0): 3}
        assert codec.ring().key("u-gone-behind-poison") is None
        await codec.prepare_to_decode([first.value])
        decoded = codec.decode(first.value)
        assert isinstance(decoded, UserRegistered) and decoded.email == ""  # no copy of the log opens it any more
    finally:
        await store.close()
        await log.close()


async def test_a_name_claimed_after_the_erasure_read_the_user_is_freed_by_a_second_erasure(tmp_path: Path) -> None:
    """erase_account lists the handles the users view showed; a rename landing before the erasure is not listed."""
    codec, gone = sealed_codec(), someone()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        await install(store, VIEWS)
        joined = registered(gone)
        renamed = UserUpdated(event_id=f"u-{gone}", actor_id=gone, occurred_at=2, username=f"new{joined.username}")
        await log.append(await records_of_events(codec, [joined, renamed]))
        erasure = await erased(gone, codec)
        shown = erasure.handles
        new_name = await codec.handle_id("username", renamed.username or "")
        await log.append(await records_of_events(codec, [erasure]))
        async with projecting(EmbeddedRuntime(log, store, codec, VIEWS)):
            runner = runner_of(log, store, codec, wait=10.0)
            assert await runner.run_once() == 3
            assert await runner.run_once() == 1  # the second erasure, which the first appended
        user = (await store.get("users", [gone]))[gone].body
        assert user["erased"] and user["handles"] == []
        handles = await store.get("handles", [*shown, new_name])
        assert {h: doc.body["user_id"] for h, doc in handles.items()} == dict.fromkeys([*shown, new_name])
    finally:
        await store.close()
        await log.close()


async def test_a_failing_view_the_erasure_does_not_read_holds_no_erasure_back(tmp_path: Path) -> None:
    """The notifications view retries a store that does not answer; the erasure goes on without it."""
    codec, gone = sealed_codec(), someone()
    log, store = SqliteLog(tmp_path / "log.db"), NotificationsDown(tmp_path / "store.db")
    runtime = EmbeddedRuntime(log, store, codec, VIEWS, retry=Retry(backoff=0.02), runner="serve-1")
    try:
        await install(store, VIEWS)
        published = ArticlePublished(event_id=f"p-{gone}", actor_id=gone, occurred_at=2, article_id=f"a-{gone}",
                                     slug="s", title="zanzibarquux", description="d", body="b")
        await log.append(await records_of_events(codec, [registered(gone), published, await erased(gone, codec)]))
        async with projecting(runtime):
            deadline = time.monotonic() + 20
            while (await troubled(store, VIEWS)).get("notifications") != "retrying":
                assert time.monotonic() < deadline, "the notifications view never reported its failure"
                await asyncio.sleep(0.02)
            with capture_logs() as logs:
                assert await runner_of(log, store, codec, wait=5.0).run_once() == 2
        [done] = [line for line in logs if line["event"] == "erased"]
        assert (done["skipped"], done["parked"], done["events"]) == (["notifications"], [], 1)
        card = (await store.get("articles", [f"a-{gone}"]))[f"a-{gone}"].body
        assert card["deleted"] and card["title"] == ""
    finally:
        await store.close()
        await log.close()


@pytest.mark.parametrize(("behind", "reports"), [("moderation", 1), ("users", 0)])
async def test_a_view_the_erasure_needs_holds_it_back_until_it_folded_the_user(
    tmp_path: Path, behind: str, reports: int
) -> None:
    """The moderation view holds the user's report of another user, which the erasure reads before deciding;
    the users view folds the erasure itself, before the expunge. Both read tribe.users, which the other views
    do not, and an erasure with nothing else to decide appends nothing that would make the runner wait."""
    codec, gone, other = sealed_codec(), someone(), someone()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        await install(store, VIEWS)
        reported = UserReported(event_id=f"rep-{gone}", actor_id=gone, occurred_at=3, target_id=other, reason="spam",
                                note="grievanceword")
        events: list[Event] = [registered(gone), registered(other, 2), *([reported] if reports else [])]
        events.append(await erased(gone, codec))
        await log.append(await records_of_events(codec, events))
        others = tuple(v for v in VIEWS if v.name != behind)
        await EmbeddedRuntime(log, store, codec, others).run_once()
        with pytest.raises(TimeoutError):
            await runner_of(log, store, codec, wait=0.3).run_once()
        async with projecting(EmbeddedRuntime(log, store, codec, VIEWS)):
            with capture_logs() as logs:
                await runner_of(log, store, codec, wait=5.0).run_once()
        [done] = [line for line in logs if line["event"] == "erased"]
        assert done["events"] == reports  # a report forgets its note
    finally:
        await store.close()
        await log.close()


class OtherArticlesCode(ArticlesReducer):
    """Another release's articles code: a different fingerprint."""

    def apply(self, event: Any, docs: Any) -> Any:
        return super().apply(event, docs)


async def test_an_erasure_reaches_the_versions_kept_beside_the_live_one(tmp_path: Path) -> None:
    """The runtimes feed only the live version. A version switched away from just before the erasure still holds
    the article: the runner brings it up to the erasure. A version other code builds is left to it, and named."""
    codec, gone = sealed_codec(), someone()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        await install(store, VIEWS)
        article = f"a-{gone}"
        published = ArticlePublished(event_id=f"p-{gone}", actor_id=gone, occurred_at=2, article_id=article,
                                     slug="s", title="zanzibarquux", description="d", body="b")
        await log.append(await records_of_events(codec, [registered(gone), published]))
        await EmbeddedRuntime(log, store, codec, VIEWS).run_once()
        kept = ARTICLES_VIEW.version
        assert (await rebuild(log, store, codec, ARTICLES_VIEW)).switched
        other_code = dataclasses.replace(ARTICLES_VIEW, reducer=OtherArticlesCode())
        unswitched = await rebuild(log, store, codec, other_code, switch=False)
        await log.append(await records_of_events(codec, [await erased(gone, codec)]))
        async with projecting(EmbeddedRuntime(log, store, codec, VIEWS)):
            with capture_logs() as logs:
                assert await runner_of(log, store, codec, wait=5.0).run_once() == 2
        for version in (kept, kept + 1):
            card = (await store.get(ARTICLES_VIEW.physical("articles", version), [article]))[article].body
            assert card["deleted"] and card["title"] == "", version
        left = (await store.get(ARTICLES_VIEW.physical("articles", unswitched.version), [article]))[article].body
        assert left["title"] == "zanzibarquux"  # other code's: its replay, or `tribe replay drop`, ends it
        [done] = [line for line in logs if line["event"] == "erased"]
        assert (done["caught_up"], done["unreached"]) == ([f"articles v{kept}"], [f"articles v{unswitched.version}"])
    finally:
        await store.close()
        await log.close()
