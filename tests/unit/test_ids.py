"""Event ids: ULIDs, Crockford base32 of 48 bits of milliseconds and 80 random bits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import ids
from events.ids import new_event_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decoded(event_id: str) -> int:
    value = 0
    for char in event_id:
        value = value * 32 + ALPHABET.index(char)
    return value


@given(millis=st.integers(0, 2**48 - 1), random=st.integers(0, 2**80 - 1))
def test_an_id_is_its_milliseconds_then_its_random_bits_in_base32(millis: int, random: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ids.os, "urandom", lambda n: random.to_bytes(n, "big"))
        event_id = new_event_id(millis)
    assert len(event_id) == 26 and decoded(event_id) == (millis << 80) | random


@given(st.lists(st.integers(0, 2**48 - 1), min_size=2, max_size=20, unique=True))
def test_ids_made_later_sort_later(moments: list[int]) -> None:
    made = {m: new_event_id(m) for m in moments}
    assert sorted(made.values()) == [made[m] for m in sorted(moments)]
