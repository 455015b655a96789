"""The replay baseline: the `eventsourcing` library (9.5) projecting the same events.

The workload's article events are stored as eventsourcing domain events (one aggregate per
article, JSON-transcoded by the application's mapper) in its SQLite application recorder.
The timed part reads the recorder's notifications in batches, maps each back to a domain
event and calls `Projection.process_event`, which updates a materialised view (articles
with their views, bumpers and comments) in an `SQLiteTrackingRecorder` subclass, each event
in one transaction with its tracking record: the library's projection model. (Its
`ProjectionRunner` cannot follow a SQLite application in 9.5, so we drive the loop.)

The view's connections use `synchronous=NORMAL` in WAL mode, the durability our SQLite
store has, so the comparison is not one of fsyncs: the library's default (FULL) would sync
every event's commit and look several times slower.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import singledispatchmethod
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore, SQLiteTrackingRecorder

import events.catalogue as ours

_NS = uuid.UUID("6f1c6d6e-8d1e-4c53-9a53-5a1d6b0c0b0e")


@dataclass(frozen=True)
class ArticlePublished(DomainEvent):
    actor_id: str
    article_id: str
    slug: str
    title: str


@dataclass(frozen=True)
class ArticleViewed(DomainEvent):
    actor_id: str
    article_id: str


@dataclass(frozen=True)
class ArticleBumped(DomainEvent):
    actor_id: str
    article_id: str


@dataclass(frozen=True)
class ArticleUnbumped(DomainEvent):
    actor_id: str
    article_id: str


@dataclass(frozen=True)
class CommentPosted(DomainEvent):
    actor_id: str
    article_id: str
    comment_id: int
    body: str


@dataclass(frozen=True)
class CommentDeleted(DomainEvent):
    actor_id: str
    article_id: str
    comment_id: int


class ArticlesView(SQLiteTrackingRecorder):
    """The articles read model as eventsourcing's projection tutorial builds one: SQL tables plus tracking."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS es_articles (article_id TEXT PRIMARY KEY, author_id TEXT, slug TEXT, "
            "title TEXT, views INTEGER NOT NULL DEFAULT 0, bumps INTEGER NOT NULL DEFAULT 0, "
            "comments INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE IF NOT EXISTS es_bumpers (article_id TEXT, user_id TEXT, PRIMARY KEY (article_id, user_id))",
            "CREATE TABLE IF NOT EXISTS es_comments (comment_id INTEGER PRIMARY KEY, article_id TEXT, "
            "author_id TEXT, body TEXT, deleted INTEGER NOT NULL DEFAULT 0)",
        ]

    def _apply(self, tracking: Tracking, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for sql, params in statements:
                c.execute(sql, params)
            self._insert_tracking(c, tracking)

    def published(self, e: ArticlePublished, tracking: Tracking) -> None:
        self._apply(
            tracking,
            [
                (
                    "INSERT OR IGNORE INTO es_articles (article_id, author_id, slug, title) VALUES (?,?,?,?)",
                    (e.article_id, e.actor_id, e.slug, e.title),
                )
            ],
        )

    def viewed(self, e: ArticleViewed, tracking: Tracking) -> None:
        self._apply(tracking, [("UPDATE es_articles SET views = views + 1 WHERE article_id=?", (e.article_id,))])

    def bumped(self, e: ArticleBumped, tracking: Tracking) -> None:
        self._apply(
            tracking,
            [
                (
                    "INSERT OR IGNORE INTO es_bumpers SELECT article_id, ? FROM es_articles WHERE article_id=?",
                    (e.actor_id, e.article_id),
                ),
                (
                    "UPDATE es_articles SET bumps = (SELECT COUNT(*) FROM es_bumpers WHERE article_id=?)"
                    " WHERE article_id=?",
                    (e.article_id, e.article_id),
                ),
            ],
        )

    def unbumped(self, e: ArticleUnbumped, tracking: Tracking) -> None:
        self._apply(
            tracking,
            [
                ("DELETE FROM es_bumpers WHERE article_id=? AND user_id=?", (e.article_id, e.actor_id)),
                (
                    "UPDATE es_articles SET bumps = (SELECT COUNT(*) FROM es_bumpers WHERE article_id=?)"
                    " WHERE article_id=?",
                    (e.article_id, e.article_id),
                ),
            ],
        )

    def commented(self, e: CommentPosted, tracking: Tracking) -> None:
        self._apply(
            tracking,
            [
                (
                    "INSERT OR IGNORE INTO es_comments (comment_id, article_id, author_id, body) "
                    "SELECT ?, article_id, ?, ? FROM es_articles WHERE article_id=?",
                    (e.comment_id, e.actor_id, e.body, e.article_id),
                ),
                (
                    "UPDATE es_articles SET comments = (SELECT COUNT(*) FROM es_comments"
                    " WHERE article_id=? AND NOT deleted) "
                    "WHERE article_id=?",
                    (e.article_id, e.article_id),
                ),
            ],
        )

    def uncommented(self, e: CommentDeleted, tracking: Tracking) -> None:
        self._apply(
            tracking,
            [
                ("UPDATE es_comments SET deleted=1 WHERE comment_id=? AND author_id=?", (e.comment_id, e.actor_id)),
                (
                    "UPDATE es_articles SET comments = (SELECT COUNT(*) FROM es_comments"
                    " WHERE article_id=? AND NOT deleted) "
                    "WHERE article_id=?",
                    (e.article_id, e.article_id),
                ),
            ],
        )


class ArticlesProjection(Projection[ArticlesView]):
    name = "articles"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, domain_event: ArticlePublished, tracking: Tracking) -> None:
        self.view.published(domain_event, tracking)

    @process_event.register
    def _(self, domain_event: ArticleViewed, tracking: Tracking) -> None:
        self.view.viewed(domain_event, tracking)

    @process_event.register
    def _(self, domain_event: ArticleBumped, tracking: Tracking) -> None:
        self.view.bumped(domain_event, tracking)

    @process_event.register
    def _(self, domain_event: ArticleUnbumped, tracking: Tracking) -> None:
        self.view.unbumped(domain_event, tracking)

    @process_event.register
    def _(self, domain_event: CommentPosted, tracking: Tracking) -> None:
        self.view.commented(domain_event, tracking)

    @process_event.register
    def _(self, domain_event: CommentDeleted, tracking: Tracking) -> None:
        self.view.uncommented(domain_event, tracking)


def _domain_event(event: ours.Event, version: int) -> DomainEvent | None:
    common = {
        "originator_id": uuid.uuid5(_NS, event.article_id),  # type: ignore[attr-defined]
        "originator_version": version,
        "timestamp": DomainEvent.create_timestamp(),
        "actor_id": event.actor_id,
        "article_id": event.article_id,  # type: ignore[attr-defined]
    }
    if isinstance(event, ours.ArticlePublished):
        return ArticlePublished(**common, slug=event.slug, title=event.title)
    if isinstance(event, ours.ArticleViewed):
        return ArticleViewed(**common)
    if isinstance(event, ours.ArticleBumped):
        return ArticleBumped(**common)
    if isinstance(event, ours.ArticleUnbumped):
        return ArticleUnbumped(**common)
    if isinstance(event, ours.CommentPosted):
        return CommentPosted(**common, comment_id=event.comment_id, body=event.body)
    if isinstance(event, ours.CommentDeleted):
        return CommentDeleted(**common, comment_id=event.comment_id)
    return None


class _NormalSyncPool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return connection


def _view_datastore(path: Path) -> SQLiteDatastore:
    datastore = SQLiteDatastore(str(path))
    datastore.pool.close()
    datastore.pool = _NormalSyncPool(db_name=str(path))
    return datastore


class Tribe(Application[uuid.UUID]):
    """The application whose recorder holds the events."""


def record(db: Path, stream: Iterable[ours.Event], limit: int) -> tuple[Application, int]:
    """Store the first `limit` article events of the stream in an eventsourcing SQLite application."""
    app = Tribe(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    versions: dict[str, int] = {}
    batch = []
    stored = 0
    for event in stream:
        if stored >= limit:
            break
        if not hasattr(event, "article_id"):
            continue
        version = versions.get(event.article_id, 0) + 1  # type: ignore[attr-defined]
        domain_event = _domain_event(event, version)
        if domain_event is None:
            continue
        versions[event.article_id] = version  # type: ignore[attr-defined]
        batch.append(app.mapper.to_stored_event(domain_event))
        stored += 1
        if len(batch) >= 1000:
            app.recorder.insert_events(batch)
            batch = []
    if batch:
        app.recorder.insert_events(batch)
    return app, stored


def project(app: Application, view_db: Path, batch: int = 500) -> tuple[int, float]:
    """Drive the projection over every notification, in batches. Returns (events, seconds)."""
    view = ArticlesView(_view_datastore(view_db))
    view.create_table()
    projection = ArticlesProjection(view)
    recorder = app.recorder
    mapper = app.mapper
    started = time.perf_counter()
    done = 0
    start = 1
    while True:
        notifications = recorder.select_notifications(start, batch)
        if not notifications:
            break
        for n in notifications:
            projection.process_event(mapper.to_domain_event(n), Tracking(app.name, n.id))
        done += len(notifications)
        start = notifications[-1].id + 1
    seconds = time.perf_counter() - started
    view.datastore.close()
    return done, seconds
