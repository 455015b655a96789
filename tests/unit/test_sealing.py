"""Crypto-shredding in the codec: personal fields leave the process sealed, and a destroyed key erases them."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import ArticlePublished, CommentPosted, UserRegistered, UserUpdated
from events.keys import KeyDestroyed
from events.sealing import PERSONAL_FIELDS, SealBroken
from tests.sealed import as_decoded, decode_now, encode_now, ready_codec

CODEC = ready_codec()
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=12, max_size=30)


def _article(author: str, marker: str, event_id: str = "e-article") -> ArticlePublished:
    return ArticlePublished(
        event_id=event_id, actor_id=author, occurred_at=5, article_id="a1", slug=f"{marker}-a1",
        title=f"title {marker}", description=f"about {marker}", body=f"body {marker}", tags=(f"tag{marker}",),
    )


@settings(max_examples=60, deadline=None)
@given(marker=words, user=st.uuids())
def test_no_personal_value_is_in_the_bytes_in_the_clear(marker: str, user: object) -> None:
    actor = f"u-{user}"
    events = [
        UserRegistered(event_id="e1", actor_id=actor, occurred_at=1, username=marker, email=f"{marker}@x.io",
                       password_hash=f"hash{marker}"),
        UserUpdated(event_id="e2", actor_id=actor, occurred_at=2, bio=f"bio {marker}", display_name=marker,
                    image=f"https://img/{marker}"),
        _article(actor, marker),
        CommentPosted(event_id="e4", actor_id=actor, occurred_at=4, article_id="a1", comment_id=1, body=marker),
    ]
    for event in events:
        data = encode_now(CODEC, event)
        assert marker.encode() not in data
        assert actor.encode() in data and event.event_id.encode() in data  # ids stay in the clear
        assert decode_now(CODEC, data) == as_decoded(CODEC, event)


def test_every_personal_field_names_a_field_of_its_event() -> None:
    from events.catalogue import EVENT_TYPES

    for type_name, names in PERSONAL_FIELDS.items():
        assert set(names) <= {f.name for f in dataclasses.fields(EVENT_TYPES[type_name])}


def test_a_ciphertext_moved_to_another_event_does_not_open() -> None:
    first = encode_now(CODEC, _article("u-move", "first", event_id="e-first"))
    second = encode_now(CODEC, _article("u-move", "secnd", event_id="e-other"))
    # Same lengths, so the second event's sealed title can be swapped into the first one's bytes.
    decoded_first = decode_now(CODEC, first)
    assert isinstance(decoded_first, ArticlePublished) and decoded_first.title == "title first"
    start = first.index(b"\x0atitle")  # the map key "title" (length 5, zig-zag 10) then the sealed value
    other = second.index(b"\x0atitle")
    length = 1 + 5 + 1 + 12 + len("title first") + 16
    forged = first[:start] + second[other : other + length] + first[start + length :]
    with pytest.raises(SealBroken):
        CODEC.decode(forged)


def test_events_written_before_sealing_still_decode_with_their_handle_digests() -> None:
    (old,) = [s for s in CODEC.known.values() if s.type_name == "UserRegistered" and s.version == 1]
    event = UserRegistered(event_id="e1", actor_id="u-old", occurred_at=1, username="Old", email="old@x.io",
                           password_hash="h")
    data = CODEC.encode(event, schema=old)
    assert b"old@x.io" in data  # written in the clear, as releases before sealing did
    decoded = decode_now(CODEC, data)
    assert decoded == as_decoded(CODEC, event)
    assert isinstance(decoded, UserRegistered) and decoded.email_handle == CODEC.ring().handle("email", "OLD@x.io")


def test_a_destroyed_key_erases_every_sealed_field_and_keeps_the_rest(tmp_path: Path) -> None:
    codec = ready_codec(tmp_path)
    event = _article("u-gone", "gone")
    data = encode_now(codec, event)
    registered = encode_now(codec, UserRegistered(event_id="r", actor_id="u-gone", occurred_at=1, username="gone",
                                                  email="g@x.io", password_hash="h"))
    assert codec.keys is not None
    asyncio.run(codec.keys.destroy("u-gone"))
    again = ready_codec(tmp_path)  # another process's codec: the same key store, nothing of the first one's cache
    for reader in (codec, again):
        erased = decode_now(reader, data)
        assert erased == dataclasses.replace(event, slug="", title="", description="", body="", tags=())
        user = decode_now(reader, registered)
        assert isinstance(user, UserRegistered)
        assert (user.username, user.email, user.password_hash) == ("", "", "")
        assert user.username_handle == codec.ring().handle("username", "gone")  # stays: its document is freed
    with pytest.raises(KeyDestroyed):
        encode_now(again, _article("u-gone", "late"))
