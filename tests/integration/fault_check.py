"""What the fault tests of every runtime compare with: a clean replay by healthy code, without what was parked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from events.log import Entry, Log
from events.routing import ARTICLES, partition_for
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install
from projections.processor import Projector
from projections.store import DeadLetter
from projections.views import VIEWS
from tests.integration.faulty_views import POISON, parkers
from tests.integration.projection_check import Documents, documents
from tests.sealed import sealed_codec

KEY = POISON.encode()


async def first_poison(log: Log, fault: str) -> int:
    """The offset of POISON's first entry that fails: the bytes that do not decode, or its first bump."""
    codec = sealed_codec()
    partition = partition_for(ARTICLES, POISON)
    for entry in await log.read(ARTICLES, partition, 0, await log.end_offset(ARTICLES, partition)):
        if entry.key != KEY:
            continue
        if fault == "undecodable":
            if not entry.value.startswith(b"\xc3\x01"):  # not Avro's single-object encoding
                return entry.position.offset
        elif codec.type_name(entry.value) == "ArticleBumped":
            return entry.position.offset
    raise AssertionError(f"no poison entry of {POISON} in the log")


async def replay_without(log: Log, path: Path, left_out: Callable[[str, Entry], bool]) -> Documents:
    """Every document a fresh store gets from offset 0 through the one write path, by healthy code, with the
    entries `left_out(view name, entry)` skipped. Versions are offsets, so the documents compare exactly."""
    store = SqliteStore(path)
    try:
        await install(store, VIEWS)
        codec = sealed_codec()
        for view in VIEWS:
            projector = Projector(store, codec, view)
            for (topic, partition), end in (await log.end_offsets(view.partitions())).items():
                offset = 0
                while offset < end:
                    chunk = await log.read(topic, partition, offset, min(1000, end - offset))
                    kept = [e for e in chunk if not left_out(view.name, e)]
                    await projector.process(kept, [e for e in chunk if left_out(view.name, e)])
                    offset = chunk[-1].position.offset + 1
        return await documents(store)
    finally:
        await store.close()


async def while_parked(log: Log, path: Path, fault: str) -> Documents:
    """The documents while POISON's events are parked: the views that park them lack POISON's from the first on."""
    at, parking = await first_poison(log, fault), parkers(fault)
    return await replay_without(
        log, path, lambda view, e: view in parking and e.key == KEY and e.position.offset >= at
    )


async def once_released(log: Log, path: Path, fault: str) -> Documents:
    """The documents once the fault is fixed and POISON's events retried (the undecodable bytes skipped)."""
    at = await first_poison(log, fault)
    return await replay_without(
        log, path, lambda view, e: fault == "undecodable" and e.key == KEY and e.position.offset == at
    )


def only_poison(letters: list[DeadLetter], at: int) -> dict[str, list[str]]:
    """Per view, the states of its letters, checking that they hold POISON's entries from `at` on, and only those."""
    out: dict[str, list[str]] = {}
    for letter in letters:
        assert letter.key == POISON and letter.offset >= at, letter
        out.setdefault(letter.projection.rsplit("_v", 1)[0], []).append(letter.state)
    return out


def per_key(docs: Documents) -> Documents:
    """Documents fed by one key each: trending's buckets (per partition) keep a retried event out (README)."""
    return {alias: found for alias, found in docs.items() if alias != "trend_buckets"}
