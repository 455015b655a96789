"""Views with faults, for the fault-isolation tests of every runtime (and `injected_worker faulty KIND`).

Each fault hits one article of the workload, POISON (its events all share one log record key):

- `undecodable`: no view is changed; the test appends bytes that are no event under POISON's key;
- `reducer`: the articles reducer raises on every bump of POISON;
- `refused`: the articles reducer writes POISON's card with a number the store cannot hold.

A faulty reducer is `broken` until told otherwise, in the same process: a fixed release, with the
same code (and so the same fingerprint), which is what `tribe dlq retry` needs.

`NotificationsDown` is a store that fails no event's fault: the notifications view retries for as
long as it is `down`.

`old_code_views()` are the application's views as an older release built them: its articles
reducer (`ShoutingTitles`) differs, and so does its fingerprint, so a test can run old and new
code side by side (`injected_worker old-code`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from events.catalogue import ArticleBumped, Event
from events.log import Record
from events.routing import ARTICLES, partition_for
from projections.adapters.sqlite_store import SqliteStore
from projections.store import Checkpoint, DocWrite
from projections.views import ARTICLES_VIEW, NOTIFICATIONS_VIEW, VIEWS, View
from reducers.articles import ArticlesReducer
from reducers.base import Body, DocKey
from reducers.notifications import NotificationsReducer

POISON = "article0007"
FAULTS = ("undecodable", "reducer", "refused")


class BuggyArticles(ArticlesReducer):
    """The articles reducer with a bug on POISON's bumps: it raises, or writes a count beyond 64 bits."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault
        self.broken = True

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        changed = super().apply(event, docs)
        if not (self.broken and isinstance(event, ArticleBumped) and event.article_id == POISON):
            return changed
        if self.fault == "reducer":
            raise ValueError(f"a bug in the articles reducer, on a bump of {event.article_id}")
        return {k: ({**v, "views": 2**70} if k[0] == "articles" else v) for k, v in changed.items()}


class BrokenNotifications(NotificationsReducer):
    """A notifications reducer that raises on every event it handles (while `broken`)."""

    broken = True

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        if self.broken:
            raise RuntimeError("a bug in the notifications reducer")
        return super().apply(event, docs)


class NotificationsDown(SqliteStore):
    """Our SQLite store, refusing every write to the notifications view's collections while `down`."""

    down = True

    async def write(self, writes: Sequence[DocWrite], checkpoint: Checkpoint) -> None:
        if self.down and checkpoint.projection.startswith("notifications"):
            raise ConnectionError("the notifications index does not answer")
        await super().write(writes, checkpoint)


class ShoutingTitles(ArticlesReducer):
    """The old code: titles in capitals."""

    def apply(self, event: Event, docs: Mapping[DocKey, Body | None]) -> dict[DocKey, Body]:
        changed = super().apply(event, docs)
        return {k: ({**v, "title": v["title"].upper()} if k[0] == "articles" else v) for k, v in changed.items()}


def old_code_views() -> tuple[View, ...]:
    """The application's views, the articles view with the old code's reducer."""
    old = dataclasses.replace(ARTICLES_VIEW, reducer=ShoutingTitles())
    return tuple(old if view.name == "articles" else view for view in VIEWS)


def faulty_views(fault: str) -> tuple[View, ...]:
    """The application's views, the articles view with the fault's reducer (none for undecodable bytes)."""
    if fault == "undecodable":
        return VIEWS
    buggy = dataclasses.replace(ARTICLES_VIEW, reducer=BuggyArticles(fault))
    return tuple(buggy if view.name == "articles" else view for view in VIEWS)


def broken_notifications() -> tuple[View, ...]:
    broken = dataclasses.replace(NOTIFICATIONS_VIEW, reducer=BrokenNotifications())
    return tuple(broken if view.name == "notifications" else view for view in VIEWS)


def fixed(views: tuple[View, ...]) -> None:
    """The same code, its bug fixed by configuration: what a retry runs with."""
    for view in views:
        if isinstance(view.reducer, (BuggyArticles, BrokenNotifications)):
            view.reducer.broken = False


def garbage() -> Record:
    """Bytes that are no event, under POISON's key in its partition of the articles topic."""
    key = POISON.encode()
    return Record(ARTICLES, partition_for(ARTICLES, POISON), key, b"\x00 these bytes are not an event", "garbage-1")


def parkers(fault: str) -> set[str]:
    """The views that park POISON's events: every view of its topic for bytes no view can read."""
    if fault == "undecodable":
        return {view.name for view in VIEWS if ARTICLES in view.topics}
    return {"articles"}

