"""How `tribe replay --verify` reads a difference between the live and the rebuilt version."""

from __future__ import annotations

import pytest

from replay.rebuild import Difference


@pytest.mark.parametrize(
    ("live", "rebuilt", "settled", "live_ahead"),
    [
        (7, 7, True, False),  # both saw the same events: the code differs
        (9, 7, False, True),  # a write after the rebuild's cut: compared next round
        (9, None, False, True),  # created after the cut
        (7, 9, False, False),  # the live side trails: wait for it
        (None, 7, False, False),  # missing on the live side
    ],
)
def test_a_difference_is_the_codes_only_at_equal_versions(
    live: int | None, rebuilt: int | None, settled: bool, live_ahead: bool
) -> None:
    d = Difference("articles", "a1", {"v": 1} if live else None, {"v": 2} if rebuilt else None, live, rebuilt)
    assert (d.settled, d.live_ahead) == (settled, live_ahead)
