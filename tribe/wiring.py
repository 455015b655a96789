"""Adapters chosen from Settings: the only place that knows every adapter."""

from __future__ import annotations

import secrets
from pathlib import Path

from events.adapters.kafka_log import KafkaLog, KafkaOptions
from events.adapters.sqlite_log import SqliteLog
from events.log import Log
from projections.adapters.elasticsearch_store import ElasticsearchStore
from projections.adapters.sqlite_store import SqliteStore
from projections.store import Store
from tribe.settings import Settings


class BadSetting(ValueError):
    """A setting names something this build cannot use."""


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def make_log(settings: Settings) -> Log:
    url = settings.log
    if url.startswith("sqlite:///"):
        return SqliteLog(_sqlite_path(url))
    if url.startswith("kafka://"):
        return KafkaLog(url, KafkaOptions(delivery_timeout=settings.kafka_delivery_timeout))
    raise BadSetting(f"unsupported log URL {url!r}: use sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT]")


def make_store(settings: Settings) -> Store:
    url = settings.store
    if url.startswith("sqlite:///"):
        return SqliteStore(_sqlite_path(url))
    if url.startswith(("http://", "https://")):
        return ElasticsearchStore.from_url(url)
    raise BadSetting(f"unsupported store URL {url!r}: use sqlite:///PATH or http(s)://HOST:PORT (Elasticsearch)")


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or the one kept in the data directory (made on first start)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_dir / "jwt.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
