"""Which KeyStore a URL names (events/keys.py); the composition root calls this with the settings' value."""

from __future__ import annotations

from pathlib import Path

from events.adapters.redis_keys import RedisKeyStore
from events.adapters.sqlite_keys import SqliteKeyStore
from events.keys import KeyStore


def key_store_for(url: str, data_dir: Path) -> KeyStore:
    """`sqlite:///PATH`, or empty for `DATA_DIR/keys.db` (the embedded default); `redis://` or `rediss://` for Redis.

    ValueError for any other URL. Nothing connects to Redis before the store's first call.
    """
    if not url:
        return SqliteKeyStore(data_dir / "keys.db")
    if url.startswith("sqlite:///"):
        return SqliteKeyStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        return RedisKeyStore(url)
    raise ValueError(f"{url!r} names no key store: use sqlite:///PATH, redis://HOST:PORT or rediss://HOST:PORT")
