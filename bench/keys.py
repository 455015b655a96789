"""The run's key store: every codec of a benchmark run seals and opens personal fields with it.

Personal fields are sealed with their owner's data key (events/sealing.py), so the records a
figure writes open only with the key store and key-encryption key they were written with.
bench/__main__.py names both in the environment (TRIBE_KEY_STORE, TRIBE_KEY_ENCRYPTION_KEY) at
the start of a run; every `tribe` process, worker job and replay helper a figure starts inherits
them, and the codecs built here in any of those processes read them back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from events.codec import EventCodec
from events.log import Log
from events.routing import partitions
from events.sealing import KeyRing
from tribe.bootstrap import key_encryption_key, make_key_store
from tribe.settings import Settings


def keyed(settings: Settings) -> Settings:
    """These settings with the run's key store and key-encryption key, for what is built from them elsewhere."""
    run = Settings.from_env()
    return replace(settings, key_store_url=run.key_store_url, key_encryption_key=run.key_encryption_key)


def codec() -> EventCodec:
    """A codec over the run's key store; not started (its first `prepare` or decoded batch starts it). Close it.

    Its key ring keeps every key it loads for the run: a benchmark destroys no key, and a figure
    loads the keys it needs before its timed region, so no key is fetched again inside it (the
    30 s refresh of `tribe` processes is there to see erasures). `tribe` processes a figure
    starts keep their own ring.
    """
    settings = Settings.from_env()
    return EventCodec(KeyRing(make_key_store(settings), key_encryption_key(settings), ttl=math.inf))


async def load_keys(codec: EventCodec, log: Log, topics: Iterable[str], *, chunk: int = 10_000) -> None:
    """Load every key decoding these topics of `log` takes, before a timed region that decodes them.

    A figure whose baseline reads no key store must not time the reads its own runtime makes of
    it; opening the sealed fields with the keys, once loaded, stays in the timed region.
    """
    wanted = [(topic, partition) for topic in topics for partition in range(partitions(topic))]
    for (topic, partition), end in (await log.end_offsets(wanted)).items():
        offset = 0
        while offset < end and (entries := await log.read(topic, partition, offset, chunk)):
            await codec.prepare_to_decode(e.value for e in entries)
            offset = entries[-1].position.offset + 1
