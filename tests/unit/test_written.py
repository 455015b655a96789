"""The X-Tribe-Position header of a write: the last position per partition, short whatever the batch."""

from __future__ import annotations

from events.log import Position
from services.outcome import Written


def test_a_batch_on_one_partition_is_one_position() -> None:
    written = Written(tuple(Position("tribe.articles", 3, n) for n in range(1000)))
    assert written.token() == "tribe.articles:3:999"


def test_each_partition_keeps_its_last_position_in_the_order_first_written() -> None:
    written = Written((
        Position("tribe.articles", 1, 7), Position("tribe.users", 0, 2), Position("tribe.articles", 1, 9),
        Position("tribe.articles", 2, 4), Position("tribe.users", 0, 1),
    ))
    assert written.token() == "tribe.articles:1:9,tribe.users:0:2,tribe.articles:2:4"
    parsed = [Position.parse(t) for t in written.token().split(",")]
    assert all(any(q.topic == p.topic and q.partition == p.partition and q.offset >= p.offset for q in parsed)
               for p in written.positions)
