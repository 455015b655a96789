"""Conduit's presentation of read-model documents."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from api.present import iso


@given(st.integers(min_value=-62_000_000_000_000, max_value=253_000_000_000_000))
def test_iso_is_the_utc_instant_to_the_millisecond(millis: int) -> None:
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC).replace(microsecond=(millis % 1000) * 1000)
    assert iso(millis) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
