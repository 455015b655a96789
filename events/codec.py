"""Avro single-object encoding of events, through fastavro.

Each message is `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form, then the Avro binary body. A reader finds
the writer schema by its fingerprint (every version ever shipped is kept in
schemas/ and schemas/history/) and resolves it against the current schema of
that type, so old bytes stay readable after a schema gains a defaulted field.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from events.catalogue import EVENT_TYPES, Event

MAGIC = b"\xc3\x01"
_ENVELOPE_FIELDS = ("event_id", "actor_id", "occurred_at")


class UnknownSchema(ValueError):
    """The bytes name a writer schema this process has never seen."""


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
    """Encodes events to single-object Avro and back."""

    def __init__(self) -> None:
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
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        schemaless_writer(out, self._plain.get(schema.fingerprint, schema.parsed), record)
        return out.getvalue()

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
        for name in ("tags", "mentions", "readers"):
            if record.get(name) is not None:
                record[name] = tuple(record[name])
        cls = EVENT_TYPES[envelope["type"]]
        return cls(
            event_id=envelope["event_id"], actor_id=envelope["actor_id"], occurred_at=envelope["occurred_at"], **record
        )

