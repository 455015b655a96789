"""Codecs for tests, sealing with a real key store, as `tribe` processes do.

By default a codec uses the run's key store (tests/conftest.py puts it in the environment, which
every `tribe` process a test starts inherits). A test that builds a server in its own process
from `Settings(data_dir=...)` builds its codec over that data directory (`sealed_codec(data_dir)`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from events.catalogue import Event
from events.codec import EventCodec
from events.log import Record
from events.sealing import HANDLE_FIELDS, KeyRing
from services.writer import records_of
from tribe.bootstrap import key_encryption_key, make_key_store
from tribe.settings import Settings


def key_environment() -> dict[str, str]:
    """The run's key store and key-encryption key, for a `tribe` process started with an environment of its own."""
    return {name: os.environ[name] for name in ("TRIBE_KEY_STORE", "TRIBE_KEY_ENCRYPTION_KEY")}


def data_dir_keys(data_dir: Path) -> dict[str, str]:
    """The environment of a `tribe` process that uses the keys of `data_dir`, as a server built in the test's
    own process from `Settings(data_dir=...)` does (the key store and key-encryption key files there)."""
    return {"TRIBE_KEY_STORE": f"sqlite:///{data_dir / 'keys.db'}", "TRIBE_KEY_ENCRYPTION_KEY": ""}


def sealed_codec(data_dir: Path | None = None) -> EventCodec:
    """A codec over the key store of `data_dir`, or the run's; not started (the first batch starts it)."""
    settings = Settings.from_env() if data_dir is None else Settings(data_dir=data_dir)
    return EventCodec(KeyRing(make_key_store(settings), key_encryption_key(settings)))


async def started_codec(data_dir: Path | None = None) -> EventCodec:
    codec = sealed_codec(data_dir)
    assert codec.keys is not None
    await codec.keys.start()
    return codec


def ready_codec(data_dir: Path | None = None) -> EventCodec:
    """`started_codec` for synchronous code (no event loop running)."""
    return asyncio.run(started_codec(data_dir))


def encode_now(codec: EventCodec, event: Event) -> bytes:
    """Encode from synchronous code, loading (or creating) the actor's key first."""
    asyncio.run(codec.prepare([event]))
    return codec.encode(event)


def decode_now(codec: EventCodec, data: bytes) -> Event:
    asyncio.run(codec.prepare_to_decode([data]))
    return codec.decode(data)


async def encoded(codec: EventCodec, events: Sequence[Event]) -> list[bytes]:
    await codec.prepare(events)
    return [codec.encode(e) for e in events]


async def records_of_events(codec: EventCodec, events: Iterable[Event]) -> list[Record]:
    """The records `tribe` appends for these events (routed, encoded with their actors' keys)."""
    batch = list(events)
    await codec.prepare(batch)
    return records_of(batch, codec)


def as_decoded(codec: EventCodec, event: Event) -> Event:
    """The event as decoding gives it back: with the digests of the handles it claims."""
    handles = {
        handle: codec.ring().handle(name, value) if (value := getattr(event, name)) is not None else ""
        for name, handle in HANDLE_FIELDS.items()
        if hasattr(event, handle)
    }
    return type(event)(**{**{f: getattr(event, f) for f in event.__dataclass_fields__}, **handles})
