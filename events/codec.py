"""Avro single-object encoding of events, through fastavro.

Each message is `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form, then the Avro binary body. A reader finds
the writer schema by its fingerprint (every version ever shipped is kept in
schemas/ and schemas/history/) and resolves it against the current schema of
that type, so old bytes stay readable after a schema gains a defaulted field.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

import orjson
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from events.catalogue import EVENT_TYPES, Event
from events.keys import KeyDestroyed
from events.sealing import HANDLE_FIELDS, PERSONAL_FIELDS, KeyRing, associated_data, seal, unseal

MAGIC = b"\xc3\x01"
_ENVELOPE_FIELDS = ("event_id", "actor_id", "occurred_at")


class UnknownSchema(ValueError):
    """The bytes name a writer schema this process has never seen."""


class NoKeyRing(RuntimeError):
    """Personal fields to seal or open, and this codec was built without a key ring (a wiring bug)."""


def _read_long(data: bytes, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at `at`: (value, the offset after it)."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7


def _envelope_fields(data: bytes) -> tuple[str, int]:
    """The actor id and time of encoded bytes, from the envelope (every event's first fields), nothing else decoded.

    The envelope is event_id, type, actor_id (strings), then occurred_at (a long).
    """
    at = 10
    for _ in range(2):  # event_id, type
        length, at = _read_long(data, at)
        at += length
    length, at = _read_long(data, at)
    actor = data[at : at + length].decode()
    occurred_at, _ = _read_long(data, at + length)
    return actor, occurred_at


def actor_of(data: bytes) -> str:
    return _envelope_fields(data)[0]


def occurred_at_of(data: bytes) -> int:
    """When the event of these bytes occurred, without its key (decoding its personal fields would need it)."""
    return _envelope_fields(data)[1]


def _as_bytes(value: object) -> bytes:
    return orjson.dumps(list(value)) if isinstance(value, tuple) else str(value).encode()


def _erased(value: object) -> object:
    """What a sealed field holds in the clear, and what it reads as once its key is destroyed."""
    return [] if isinstance(value, tuple) else ""


def _opened(plain: bytes, like: object) -> object:
    return tuple(orjson.loads(plain)) if isinstance(like, list) else plain.decode()


@dataclass(frozen=True, slots=True)
class EventSchema:
    type_name: str
    version: int
    parsed: Any
    fingerprint: bytes
    raw: dict[str, Any]


def _inline_envelope(schema: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """Replace the named envelope reference with its definition, so the schema stands alone."""
    schema = copy.deepcopy(schema)
    for f in schema["fields"]:
        if f["type"] == "tribestream.Envelope":
            f["type"] = copy.deepcopy(envelope)
    return schema


def _load(text: str, envelope: dict[str, Any]) -> EventSchema:
    raw = _inline_envelope(json.loads(text), envelope)
    parsed = parse_schema(raw)
    canonical = to_parsing_canonical_form(parsed)
    # fastavro already gives the CRC-64-AVRO bytes in little-endian order, as the spec wants.
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return EventSchema(raw["name"], int(raw.get("version", 1)), parsed, fp, raw)


def _without_logical_types(schema: Any) -> Any:
    """The schema with `logicalType` annotations removed: the same binary layout, plain values.

    Only `occurred_at` has one (timestamp-millis). Reading it plain gives the milliseconds the
    event was written with, instead of a datetime the codec would convert straight back.
    """
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


def load_schemas() -> tuple[dict[str, EventSchema], dict[bytes, EventSchema]]:
    """(current schema by event type, every known schema by fingerprint)."""
    root = resources.files("schemas")
    envelope = json.loads(root.joinpath("tribestream.Envelope.avsc").read_text())
    current: dict[str, EventSchema] = {}
    known: dict[bytes, EventSchema] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("tribestream.events.") and entry.name.endswith(".avsc"):
            schema = _load(entry.read_text(), envelope)
            current[schema.type_name] = schema
            known[schema.fingerprint] = schema
    for entry in sorted(root.joinpath("history").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".avsc"):
            schema = _load(entry.read_text(), envelope)
            known[schema.fingerprint] = schema
    return current, known


class EventCodec:
    """Encodes events to single-object Avro and back, sealing personal fields with their owner's key.

    Keys come from `keys` (events/sealing.py), loaded for a batch by `prepare` (before encoding)
    or `prepare_to_decode` (before decoding). A codec without a key ring handles only events with
    no personal field.
    """

    def __init__(self, keys: KeyRing | None = None) -> None:
        self.keys = keys
        self.current, self.known = load_schemas()
        missing = set(EVENT_TYPES) - set(self.current)
        if missing:
            raise RuntimeError(f"no schema for event types {sorted(missing)}")
        # Encoding and decoding go through plain copies of the schemas (see _without_logical_types);
        # the fingerprints are those of the real schemas (logical types are not in the canonical form).
        self._plain = {fp: parse_schema(_without_logical_types(s.raw)) for fp, s in self.known.items()}
        self._payload_fields = {
            name: tuple(f.name for f in dataclasses.fields(cls) if f.name not in _ENVELOPE_FIELDS)
            for name, cls in EVENT_TYPES.items()
        }
        self._sealing = frozenset(
            fp for fp, s in self.known.items() if any(f["name"] == "sealed" for f in s.raw["fields"])
        )

    async def close(self) -> None:
        if self.keys is not None:
            await self.keys.close()

    async def handle_id(self, kind: str, value: str) -> str:
        """The id of the handle document of a username or e-mail: the digest the events carry."""
        ring = self._ring()
        await ring.start()
        return ring.handle(kind, value)

    def ring(self) -> KeyRing:
        """The key ring (NoKeyRing without one)."""
        return self._ring()

    def _ring(self) -> KeyRing:
        if self.keys is None:
            raise NoKeyRing("this codec has no key ring, and the event has personal fields")
        return self.keys

    async def prepare(self, events: Iterable[Event]) -> None:
        """Load the keys encoding these events takes, giving a user their first key."""
        owners = {e.actor_id for e in events if e.type in PERSONAL_FIELDS}
        if owners:
            ring = self._ring()
            await ring.start()
            await ring.load(owners, create=True)

    async def prepare_to_decode(self, values: Iterable[bytes]) -> None:
        """Load the keys decoding these bytes takes (bytes of unknown schemas are left for `decode` to refuse)."""
        if self.keys is not None:
            await self.keys.start()  # handle digests of events written before they were carried in them
        sealing = self._sealing
        owners = set()
        for value in values:
            if value[2:10] in sealing:
                with contextlib.suppress(IndexError, UnicodeDecodeError):  # bytes `decode` will refuse
                    owners.add(actor_of(value))
        if owners:
            await self._ring().load(owners)

    def encode(self, event: Event, schema: EventSchema | None = None) -> bytes:
        """Bytes of `event` under its current schema (or the given older one)."""
        schema = schema or self.current[event.type]
        record: dict[str, Any] = {
            "envelope": {
                "event_id": event.event_id,
                "type": event.type,
                "actor_id": event.actor_id,
                "occurred_at": event.occurred_at,
                "schema_version": schema.version,
            }
        }
        for name in self._payload_fields[event.type]:
            value = getattr(event, name)
            record[name] = list(value) if isinstance(value, tuple) else value
        if schema.fingerprint in self._sealing:
            self._seal(event, record)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        schemaless_writer(out, self._plain.get(schema.fingerprint, schema.parsed), record)
        return out.getvalue()

    async def decode_batch(self, values: Iterable[bytes]) -> list[Event]:
        """Decode these bytes, having loaded the keys they take."""
        batch = list(values)
        await self.prepare_to_decode(batch)
        return [self.decode(v) for v in batch]

    def _seal(self, event: Event, record: dict[str, Any]) -> None:
        ring = self._ring()
        key = ring.key(event.actor_id)
        if key is None:
            raise KeyDestroyed(event.actor_id)
        sealed: dict[str, bytes] = {}
        for name in PERSONAL_FIELDS[event.type]:
            value = getattr(event, name)
            if value is not None:
                sealed[name] = seal(key, associated_data(event.event_id, event.actor_id, name), _as_bytes(value))
                record[name] = _erased(value)
        record["sealed"] = sealed
        for name, handle in HANDLE_FIELDS.items():
            if handle in record:
                value = getattr(event, name)
                record[handle] = "" if value is None else ring.handle(name, value)

    def _open(self, actor_id: str, event_id: str, record: dict[str, Any], sealed: dict[str, bytes]) -> None:
        """Open the sealed fields in place; with the owner's key destroyed they keep their erased values."""
        key = self._ring().key(actor_id)
        if key is None:
            return
        for name, value in sealed.items():
            record[name] = _opened(unseal(key, associated_data(event_id, actor_id, name), value), record[name])

    def _hash_handles(self, record: dict[str, Any]) -> None:
        """The handle digests of an event written before they were carried in it (its handles in the clear)."""
        ring = self._ring()
        for name, handle in HANDLE_FIELDS.items():
            value = record.get(name)
            record[handle] = "" if value is None else ring.handle(name, value)

    def writer_schema(self, data: bytes) -> EventSchema:
        if data[:2] != MAGIC or len(data) < 10:
            raise UnknownSchema("not an Avro single-object encoded message")
        schema = self.known.get(data[2:10])
        if schema is None:
            raise UnknownSchema(f"unknown writer schema fingerprint {data[2:10].hex()}")
        return schema

    def type_name(self, data: bytes) -> str:
        """The event type of encoded bytes, from their schema fingerprint alone (no decoding)."""
        return self.writer_schema(data).type_name

    def decode(self, data: bytes) -> Event:
        writer = self.writer_schema(data)
        reader = self.current[writer.type_name]
        stream = io.BytesIO(data)
        stream.seek(10)
        # Bytes written with the current schema need no resolution (it would change nothing).
        resolve = None if reader is writer else self._plain[reader.fingerprint]
        # Every event schema is a record, so the reader returns a dict.
        record = cast(dict[str, Any], schemaless_reader(stream, self._plain[writer.fingerprint], resolve))
        envelope = record.pop("envelope")
        sealed = record.pop("sealed", None)
        if sealed:
            self._open(envelope["actor_id"], envelope["event_id"], record, sealed)
        elif writer.fingerprint not in self._sealing and "username_handle" in record:
            self._hash_handles(record)
        for name in ("tags", "mentions", "readers", "handles"):
            if record.get(name) is not None:
                record[name] = tuple(record[name])
        cls = EVENT_TYPES[envelope["type"]]
        return cls(
            event_id=envelope["event_id"], actor_id=envelope["actor_id"], occurred_at=envelope["occurred_at"], **record
        )

