"""The operator page's throughput: checkpoint deltas between samples at least a second apart."""

from __future__ import annotations

from replay.versions import Throughput, VersionStatus, ViewStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample(**done: int) -> list[ViewStatus]:
    """One view per name, its version 1 live with `done` events checkpointed on one partition."""
    return [ViewStatus(name, 1, [VersionStatus(1, True, {"t:0": 0}, {"t:0": n})]) for name, n in done.items()]


def test_a_rate_is_the_checkpoint_delta_over_an_interval_of_a_second_or_more() -> None:
    clock = Clock()
    throughput = Throughput(every=1.0, clock=clock)
    assert throughput.rates(sample(users=10)) == {("users", 1): None}
    clock.now += 0.4
    assert throughput.rates(sample(users=30)) == {("users", 1): None}  # too soon: no rate yet
    clock.now += 0.6
    assert throughput.rates(sample(users=60)) == {("users", 1): 50.0}
    clock.now += 0.5
    assert throughput.rates(sample(users=70)) == {("users", 1): 50.0}  # the last full interval's
    clock.now += 1.5
    assert throughput.rates(sample(users=60 + 400)) == {("users", 1): 200.0}


def test_a_version_found_or_rebuilt_anew_starts_over_and_one_gone_is_forgotten() -> None:
    clock = Clock()
    throughput = Throughput(every=1.0, clock=clock)
    throughput.rates(sample(users=500, follows=10))
    clock.now += 2
    assert throughput.rates(sample(users=700, follows=10, articles=3)) == {
        ("users", 1): 100.0, ("follows", 1): 0.0, ("articles", 1): None,
    }
    clock.now += 2
    assert throughput.rates(sample(users=20, articles=5)) == {("users", 1): None, ("articles", 1): 1.0}
    clock.now += 2
    assert throughput.rates(sample(follows=50)) == {("follows", 1): None}


def test_progress_is_the_share_of_the_log_checkpointed() -> None:
    building = VersionStatus(2, False, {"t:0": 30, "t:1": 10}, {"t:0": 50, "t:1": 10})
    assert (building.done, building.total_lag, building.progress) == (60, 40, 0.6)
    assert VersionStatus(1, True, {"t:0": 0}, {"t:0": 0}).progress == 1.0
