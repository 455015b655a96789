"""Copy a log into a new, empty one with other partition counts (`tribe log copy`; docs/kafka.md, "Growing a topic").

Each partition of the old log is read from its first offset to its head and appended in that
order, every event routed by the process topology (the new log's counts). A key's events all sit
in one old partition, so they arrive in the new one in their order: per-key order holds, and
each document is again fed by one partition. Bytes that are no event (the dead letters' kind)
are copied as they are, routed by their key. The old log's entries keep their bytes; their
offsets are the new log's own. Consumer-group offsets are not copied (they name old partitions),
and the new log's id blocks are claimed past the old one's, so no comment id is handed out twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from events.codec import EventCodec
from events.log import Entry, Log, Record
from events.routing import Topology, murmur2, partitions, topology
from services.writer import record_for

BATCH = 500
"""Entries read, and appended, at a time."""


class CopyRefused(Exception):
    """The copy cannot start; nothing was written."""


@dataclass(frozen=True, slots=True)
class Copied:
    events: int
    undecodable: int
    id_block: int
    """The last id block claimed on the new log: past every block the old log handed out."""


def _record(entry: Entry, codec: EventCodec) -> tuple[Record, bool]:
    """The entry on its way into the new log, and whether it decoded as an event."""
    topic, at = entry.position.topic, entry.position
    try:
        event = codec.decode(entry.value)
    except Exception:  # any bytes that do not decode are copied as they are
        partition = (murmur2(entry.key) & 0x7FFFFFFF) % partitions(topic)
        return Record(topic, partition, entry.key, entry.value, f"copied-{topic}-{at.partition}-{at.offset}"), False
    return record_for(event, entry.value), True


async def copy_log(
    old: Log, old_counts: Topology, new: Log, codec: EventCodec, *, on_partition: Callable[[str, int, int], None]
) -> Copied:
    """Copy every entry of `old` (created with `old_counts`) into the empty `new`; `on_partition(topic, p, n)` after
    each old partition. Raises CopyRefused when `new` holds events."""
    held = await new.end_offsets([(t, p) for t, n in topology().counts for p in range(n)])
    if any(held.values()):
        raise CopyRefused("the new log already holds events: copy into a log that has none")
    heads = await old.end_offsets([(t, p) for t, n in old_counts.counts for p in range(n)])
    events = undecodable = 0
    for (topic, partition), head in heads.items():
        offset = 0
        while offset < head:
            entries = await old.read(topic, partition, offset, min(BATCH, head - offset))
            if not entries:
                break
            await codec.prepare_to_decode(entry.value for entry in entries)
            copied = [_record(entry, codec) for entry in entries]
            await new.append([record for record, _ in copied])
            events += sum(decoded for _, decoded in copied)
            undecodable += sum(not decoded for _, decoded in copied)
            offset = entries[-1].position.offset + 1
        on_partition(topic, partition, head)
    last = await old.claim_id_block()
    block = await new.claim_id_block()
    while block <= last:
        block = await new.claim_id_block()
    return Copied(events, undecodable, block)
