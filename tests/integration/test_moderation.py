"""Reports, the queue, decisions and the classifier runner, on the real embedded adapters without HTTP.

The embedded runtime runs in the background, so a write is answered once projected; the
classifier's runner is run one pass at a time, so a test decides when it judges.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import CLASSIFIER_ACTOR, ModerationDecided
from events.log import Position
from events.routing import ARTICLES
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.progress import Progress
from projections.views import VIEWS
from services import accounts, activity, articles, comments, moderation, notifications
from services.classifier import Judge, WordList, decision_id
from services.errors import Forbidden, Invalid, NotFound
from services.fanout_runner import FanOutRunner, fanout_partitions
from services.moderation import Decide, Moderators, Report, Target
from services.outcome import Outcome, Projected
from services.ports import Ports
from tests.sealed import sealed_codec
from tribe.bootstrap import build_ports, moderation_runner
from tribe.settings import Settings

T = TypeVar("T")
MODERATORS = Moderators(frozenset({"mia"}))


def value(outcome: Outcome[T]) -> T:
    assert isinstance(outcome, Projected), outcome
    return outcome.value


class World:
    def __init__(self, ports: Ports, runtime: EmbeddedRuntime, judge: FanOutRunner) -> None:
        self.ports = ports
        self.runtime = runtime
        self.judge = judge

    async def users(self, *names: str) -> list[str]:
        return [await self.user(name) for name in names]

    async def user(self, name: str) -> str:
        await accounts.register(self.ports, accounts.Register(name, f"{name}@example.com", "long-enough-pw"))
        user = await self.ports.reads.user_by("username", name)
        assert user is not None
        return str(user["user_id"])

    async def article(self, author: str, title: str = "Hill climb", body: str = "b") -> tuple[str, str]:
        shown = value(await articles.publish(self.ports, articles.Publish(author, title, "d", body)))
        return shown.article["article_id"], shown.article["slug"]

    async def titles(self, reader: str | None) -> list[str]:
        page = await articles.listing(self.ports, articles.Listing(reader, limit=100))
        return [a.article["title"] for a in page.articles]

    async def judged(self, judge: FanOutRunner | None = None) -> None:
        """One pass of the classifier (or of another runner of it), then the views catch up with what it appended."""
        await (judge or self.judge).run_once()
        heads = await self.ports.writer.log.end_offsets(fanout_partitions((ARTICLES,)))
        assert await self.ports.writer.progress.wait([Position(t, p, h - 1) for (t, p), h in heads.items() if h], 5)

    def rerun(self, name: str) -> FanOutRunner:
        """The classifier run again from the start of the log, as after a lost checkpoint or in a replay."""
        log, store = self.ports.writer.log, self.ports.writer.progress.store
        judge = Judge(WordList(["lemon"]))
        return FanOutRunner(log, store, sealed_codec(), judge, Progress(store, ()), checkpoint=name, topics=(ARTICLES,))

    async def decisions(self) -> list[ModerationDecided]:
        log, codec = self.ports.writer.log, self.ports.writer.codec
        found = []
        for topic, partition in fanout_partitions((ARTICLES,)):
            entries = await log.read(topic, partition, 0, await log.end_offset(topic, partition))
            found += [e for e in await codec.decode_batch(x.value for x in entries) if isinstance(e, ModerationDecided)]
        return found


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path, jwt_secret="s" * 48, moderation_words=("lemon",))
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    codec = sealed_codec()
    await install(store, VIEWS)
    runtime = EmbeddedRuntime(log, store, codec, VIEWS, wakeup=log.watch())
    ports = build_ports(settings, log, store, codec, Progress(store, VIEWS, advanced=lambda: runtime.advanced))
    task = asyncio.create_task(runtime.run())
    yield World(ports, runtime, moderation_runner(settings, log, store, codec))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await log.close()
    await store.close()


async def test_reports_fill_the_queue_counting_each_reporter_once(world: World) -> None:
    ann, ben, cat, mia = await world.users("ann", "ben", "cat", "mia")
    article_id, _ = await world.article(ann)
    for reporter, reason in ((ben, "spam"), (ben, "abuse"), (cat, "abuse")):
        await moderation.report(world.ports, Report(reporter, Target("article", article_id), reason, "note"))
    await moderation.report(world.ports, Report(ben, Target("user", username="ann"), "harassment"))
    page = await moderation.queue(world.ports, MODERATORS, mia, None, 20, 0)
    assert page.total == 2
    assert [(i.item["target_kind"], i.item["reports"], i.item["reasons"], i.shown) for i in page.items] == [
        ("article", 2, ["abuse", "spam"], "Hill climb"),
        ("user", 1, ["harassment"], "ann"),
    ]


async def test_a_report_names_something_the_reporter_sees_that_is_not_theirs(world: World) -> None:
    ann, ben = await world.user("ann"), await world.user("ben")
    article_id, _ = await world.article(ann)
    with pytest.raises(Invalid):
        await moderation.report(world.ports, Report(ben, Target("article", article_id), "because"))
    with pytest.raises(Forbidden):
        await moderation.report(world.ports, Report(ann, Target("article", article_id), "spam"))
    with pytest.raises(Invalid):
        await moderation.report(world.ports, Report(ben, Target("article", article_id), "spam", "n" * 501))
    with pytest.raises(NotFound):
        await moderation.report(world.ports, Report(ben, Target("comment", article_id, 404), "spam"))
    with pytest.raises(NotFound):
        await moderation.report(world.ports, Report(ben, Target("user", username="nobody"), "spam"))


async def test_only_moderators_read_the_queue_and_decide(world: World) -> None:
    ann, ben, mia, max_ = await world.users("ann", "ben", "mia", "max")
    article_id, _ = await world.article(ann)
    hide = Decide(ben, Target("article", article_id), "hide", "spam")
    with pytest.raises(Forbidden):
        await moderation.queue(world.ports, MODERATORS, ben, None, 20, 0)
    with pytest.raises(Forbidden):
        await moderation.decide(world.ports, MODERATORS, hide)
    # The role granted by the operator (an event the users view keeps), by id or by name in the settings.
    await _set_moderator(world, "max", granted=True)
    assert await _eventually(lambda: moderation.is_moderator(world.ports, MODERATORS, max_), True)
    await moderation.decide(world.ports, MODERATORS, Decide(max_, Target("article", article_id), "hide", "spam"))
    assert await moderation.is_moderator(world.ports, Moderators(frozenset({mia})), mia)
    await _set_moderator(world, "max", granted=False)
    assert await _eventually(lambda: moderation.is_moderator(world.ports, MODERATORS, max_), False)
    with pytest.raises(NotFound):
        await _set_moderator(world, "nobody", granted=True)


async def _eventually(check: Callable[[], Awaitable[bool]], expected: bool, seconds: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await check() is expected:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_hidden_article_shows_to_its_author_only_until_restored(world: World) -> None:
    ann, ben, mia = await world.users("ann", "ben", "mia")
    article_id, slug = await world.article(ann, "Hidden one")
    await world.article(ann, "Visible one")
    item = value(
        await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("article", article_id), "hide", "x"))
    )
    assert (item.item["state"], item.item["decided_by"], item.item["decided_source"]) == ("hidden", mia, "moderator")
    assert await world.titles(ben) == ["Visible one"]
    assert await world.titles(None) == ["Visible one"]
    assert await world.titles(ann) == ["Visible one", "Hidden one"]
    with pytest.raises(NotFound):
        await articles.get(world.ports, slug, ben)
    with pytest.raises(NotFound):
        await articles.card(world.ports, article_id, ben)
    with pytest.raises(NotFound):
        await comments.post(world.ports, comments.Comment(ben, slug, "hello"))
    assert (await articles.get(world.ports, slug, ann)).article["title"] == "Hidden one"
    assert await activity.search_articles(world.ports, "Hidden", None, 10, ben) == []
    await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("article", article_id), "restore", "ok"))
    assert sorted(await world.titles(ben)) == ["Hidden one", "Visible one"]


async def test_a_suspended_user_cannot_write_and_what_they_wrote_is_hidden(world: World) -> None:
    ann, ben, mia = await world.users("ann", "ben", "mia")
    _, slug = await world.article(ann, "By ann")
    await comments.post(world.ports, comments.Comment(ann, slug, "ann's own comment"))
    await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("user", username="ann"), "suspend", "abuse"))
    with pytest.raises(Forbidden):
        await articles.publish(world.ports, articles.Publish(ann, "Again", "d", "b"))
    with pytest.raises(Forbidden):
        await comments.post(world.ports, comments.Comment(ann, slug, "again"))
    with pytest.raises(Forbidden):
        await moderation.report(world.ports, Report(ann, Target("user", username="ben"), "spam"))
    assert await world.titles(ben) == []
    assert await world.titles(ann) == ["By ann"]
    with pytest.raises(Forbidden):
        await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("user", username="mia"), "suspend", "x"))
    with pytest.raises(Invalid):
        await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("user", username="ann"), "hide", "x"))
    await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("user", username="ann"), "unsuspend", "ok"))
    assert await world.titles(ben) == ["By ann"]
    value(await articles.publish(world.ports, articles.Publish(ann, "Again", "d", "b")))


async def test_the_classifier_hides_what_holds_a_listed_word_and_judges_each_event_once(world: World) -> None:
    ann, ben = await world.user("ann"), await world.user("ben")
    sour_id, sour_slug = await world.article(ann, "Sour", body="a LEMON tart")
    _, sweet_slug = await world.article(ann, "Sweet", body="lemonade")
    posted = value(await comments.post(world.ports, comments.Comment(ben, sweet_slug, "Lemon!")))
    await comments.post(world.ports, comments.Comment(ben, sweet_slug, "fine"))
    await world.judged()
    assert await world.titles(ben) == ["Sweet"]
    shown = await comments.listing(world.ports, sweet_slug, ann)
    assert [c.comment["body"] for c in shown] == ["fine"]
    assert [c.comment["body"] for c in await comments.listing(world.ports, sweet_slug, ben)] == ["fine", "Lemon!"]
    first = sorted(await world.decisions(), key=lambda d: d.target_kind)
    assert [(d.target_kind, d.target_id, d.actor_id, d.source, d.action) for d in first] == [
        ("article", sour_id, CLASSIFIER_ACTOR, "classifier", "hide"),
        ("comment", str(posted.comment["comment_id"]), CLASSIFIER_ACTOR, "classifier", "hide"),
    ]
    assert [d.event_id for d in first] == [decision_id(d.judged_event_id or "") for d in first]

    # A second pass judges nothing more; a rerun from the start of the log judges again and appends nothing.
    await world.judged()
    await world.judged(world.rerun("moderation-rerun"))
    assert sorted(await world.decisions(), key=lambda d: d.target_kind) == first
    # The moderator restores what the classifier hid; a replay of the classifier does not hide it again.
    mia = await world.user("mia")
    await moderation.decide(world.ports, MODERATORS, Decide(mia, Target("article", sour_id), "restore", "a fruit"))
    await world.judged(world.rerun("moderation-replay"))
    assert len(await world.decisions()) == 3
    assert sorted(await world.titles(ben)) == ["Sour", "Sweet"]
    assert (await articles.get(world.ports, sour_slug, ben)).article["title"] == "Sour"


async def _set_moderator(world: World, username: str, *, granted: bool) -> str:
    ports = world.ports
    return await moderation.set_moderator(ports.writer.log, ports.reads, ports.writer.codec, username, granted=granted)


async def test_a_mention_in_a_hidden_comment_notifies_nobody(world: World) -> None:
    ann, ben = await world.user("ann"), await world.user("ben")
    _, slug = await world.article(ann, "Sweet", body="b")
    kept = value(await comments.post(world.ports, comments.Comment(ann, slug, "fine, @ben?")))
    hidden = value(await comments.post(world.ports, comments.Comment(ann, slug, "lemon for @ben")))

    async def mentions() -> list[int]:
        shown = await notifications.inbox(world.ports, ben, "ben", 20)
        return sorted(n.group["comment_id"] for n in shown.notifications if n.group["kind"] == "mention")

    assert await mentions() == sorted([kept.comment["comment_id"], hidden.comment["comment_id"]])
    await world.judged()
    assert await mentions() == [kept.comment["comment_id"]]
