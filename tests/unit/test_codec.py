"""The Avro codec: round trips, the single-object header, the envelope, schema evolution.

The header is checked against an implementation of CRC-64-AVRO written here from
the Avro specification, pinned by published test vectors, and against fastavro's
fingerprint of the schema files with the envelope inlined by this test (not by
the codec), so a codec bug in either step shows.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path

import pytest
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import EVENT_TYPES, ArticleViewed, Event
from events.codec import MAGIC, EventCodec, UnknownSchema
from events.sealing import PERSONAL_FIELDS
from tests.sealed import as_decoded, decode_now, encode_now, ready_codec
from tests.unit.event_strategies import any_event, events_of

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ENVELOPE_FIELDS = {"event_id", "actor_id", "occurred_at"}


CODEC = ready_codec()


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return CODEC


# -- an independent CRC-64-AVRO, from the Avro specification -----------------------

_EMPTY = 0xC15D213AA4D7A795


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def test_crc64_avro_matches_published_vectors() -> None:
    # Values from the Avro project's Ruby test_fingerprints.rb and goavro's crc64avro_test.go.
    assert crc64_avro(b'"int"') == 0x7275D51A3F395C8F
    assert crc64_avro(b'"string"') == 0x8F014872634503C7


def test_single_object_header_of_int_matches_the_avro_test_suite() -> None:
    # Avro's Ruby test_single_object_encoding_header for {"type": "int"}.
    header = MAGIC + crc64_avro(b'"int"').to_bytes(8, "little")
    assert header == bytes([0xC3, 0x01, 0x8F, 0x5C, 0x39, 0x3F, 0x1A, 0xD5, 0x75, 0x72])


def _schema_file(path: Path, *, plain_longs: bool = False) -> dict:
    """The schema file with the envelope inlined; `plain_longs` drops logical types, so a test
    reading the bytes with fastavro gets occurred_at as the long it is, whatever its value."""
    envelope = json.loads((SCHEMAS / "tribestream.Envelope.avsc").read_text())
    if plain_longs:
        for f in envelope["fields"]:
            if isinstance(f["type"], dict) and "logicalType" in f["type"]:
                f["type"] = f["type"]["type"]
    schema = json.loads(path.read_text())
    for f in schema["fields"]:
        if f["type"] == "tribestream.Envelope":
            f["type"] = copy.deepcopy(envelope)
    return schema


def _current_schema_file(type_name: str) -> dict:
    return _schema_file(SCHEMAS / f"tribestream.events.{type_name}.avsc")


def _canonical(schema: dict) -> str:
    return to_parsing_canonical_form(parse_schema(copy.deepcopy(schema)))


# -- round trips -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(any_event())
def test_decode_inverts_encode(event: Event) -> None:
    assert decode_now(CODEC, encode_now(CODEC, event)) == as_decoded(CODEC, event)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_type_round_trips(type_name: str, data: st.DataObject) -> None:
    event = data.draw(events_of(EVENT_TYPES[type_name]))
    decoded = decode_now(CODEC, encode_now(CODEC, event))
    assert type(decoded) is type(event)
    assert decoded == as_decoded(CODEC, event)


# -- the single-object header ------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(any_event())
def test_message_starts_with_magic_and_little_endian_fingerprint(event: Event) -> None:
    data = encode_now(CODEC, event)
    canonical = _canonical(_current_schema_file(event.type))
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == crc64_avro(canonical.encode()).to_bytes(8, "little")
    assert data[2:10] == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_codec_fingerprints_agree_with_the_schema_files(codec: EventCodec, type_name: str) -> None:
    canonical = _canonical(_current_schema_file(type_name))
    assert codec.current[type_name].fingerprint == crc64_avro(canonical.encode()).to_bytes(8, "little")


def test_history_fingerprints_agree_with_the_schema_files(codec: EventCodec) -> None:
    for path in sorted((SCHEMAS / "history").glob("*.avsc")):
        canonical = _canonical(_schema_file(path))
        fp = crc64_avro(canonical.encode()).to_bytes(8, "little")
        assert fp in codec.known, path.name
        assert codec.known[fp].version == json.loads(path.read_text())["version"]


# -- the envelope -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(any_event())
def test_envelope_carries_type_and_schema_version(event: Event) -> None:
    data = encode_now(CODEC, event)
    writer = parse_schema(_schema_file(SCHEMAS / f"tribestream.events.{event.type}.avsc", plain_longs=True))
    record = schemaless_reader(io.BytesIO(data[10:]), writer, None)
    envelope = record["envelope"]
    assert envelope["type"] == event.type
    assert envelope["schema_version"] == json.loads(
        (SCHEMAS / f"tribestream.events.{event.type}.avsc").read_text()
    )["version"]
    assert envelope["event_id"] == event.event_id
    assert envelope["actor_id"] == event.actor_id
    assert envelope["occurred_at"] == event.occurred_at


# -- schema evolution -----------------------------------------------------------------------


def _viewed_v1(codec: EventCodec):
    (old,) = [s for s in codec.known.values() if s.type_name == "ArticleViewed" and s.version == 1]
    return old


@settings(max_examples=100, deadline=None)
@given(events_of(ArticleViewed))
def test_v1_article_viewed_decodes_under_v2_with_default_referrer(event: ArticleViewed) -> None:
    old = _viewed_v1(CODEC)
    assert CODEC.current["ArticleViewed"].version == 2
    data = CODEC.encode(event, schema=old)
    assert data[2:10] == old.fingerprint != CODEC.current["ArticleViewed"].fingerprint
    decoded = CODEC.decode(data)
    assert decoded == dataclasses.replace(event, referrer=None)


def test_v1_bytes_carry_version_1_in_the_envelope(codec: EventCodec) -> None:
    old = _viewed_v1(codec)
    event = ArticleViewed(event_id="e1", actor_id="u1", occurred_at=1, article_id="a1", referrer="r")
    data = codec.encode(event, schema=old)
    record = schemaless_reader(io.BytesIO(data[10:]), old.parsed, None)
    assert record["envelope"]["schema_version"] == 1
    assert "referrer" not in record


# -- rejection ---------------------------------------------------------------------------------


def test_unknown_fingerprint_raises_unknown_schema(codec: EventCodec) -> None:
    data = codec.encode(ArticleViewed(event_id="e1", actor_id="u1", occurred_at=1, article_id="a1"))
    forged = data[:2] + bytes(8) + data[10:]
    with pytest.raises(UnknownSchema):
        codec.decode(forged)


@pytest.mark.parametrize("magic", [b"\x00\x00", b"\xc3\x00", b"\xc2\x01", b"\x01\xc3"])
def test_bad_magic_raises_unknown_schema(codec: EventCodec, magic: bytes) -> None:
    data = codec.encode(ArticleViewed(event_id="e1", actor_id="u1", occurred_at=1, article_id="a1"))
    with pytest.raises(UnknownSchema):
        codec.decode(magic + data[2:])


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x01", b"\xc3\x01\x00\x00\x00"])
def test_truncated_header_raises_unknown_schema(codec: EventCodec, data: bytes) -> None:
    with pytest.raises(UnknownSchema):
        codec.decode(data)


# -- the catalogue and the schema files agree ------------------------------------------------------


def test_every_event_type_has_exactly_one_current_schema(codec: EventCodec) -> None:
    files = sorted(p.name for p in SCHEMAS.glob("tribestream.events.*.avsc"))
    names = [f.removeprefix("tribestream.events.").removesuffix(".avsc") for f in files]
    assert sorted(names) == sorted(EVENT_TYPES)
    assert set(codec.current) == set(EVENT_TYPES)
    for type_name, schema in codec.current.items():
        assert schema.type_name == type_name
        assert codec.known[schema.fingerprint] is schema


def test_history_holds_only_older_versions_of_known_types(codec: EventCodec) -> None:
    history = [s for s in codec.known.values() if s not in codec.current.values()]
    assert history, "schemas/history should hold ArticleViewed v1"
    for schema in history:
        assert schema.type_name in EVENT_TYPES
        assert schema.version < codec.current[schema.type_name].version


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_schema_fields_match_dataclass_fields(codec: EventCodec, type_name: str) -> None:
    cls = EVENT_TYPES[type_name]
    raw = codec.current[type_name].raw
    fields = {f["name"]: f for f in raw["fields"]}
    payload = {f.name: f for f in dataclasses.fields(cls) if f.name not in ENVELOPE_FIELDS}
    sealed = {"sealed"} if type_name in PERSONAL_FIELDS else set()
    assert set(fields) == {"envelope", *payload, *sealed}
    envelope = {f["name"] for f in fields["envelope"]["type"]["fields"]}
    assert envelope == ENVELOPE_FIELDS | {"type", "schema_version"}
    for name, f in payload.items():
        optional = f.default is None
        nullable = isinstance(fields[name]["type"], list) and "null" in fields[name]["type"]
        assert optional == nullable, f"{type_name}.{name}: dataclass default None iff Avro union with null"
        if optional:
            assert "default" in fields[name] and fields[name]["default"] is None
