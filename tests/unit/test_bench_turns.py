"""Measuring in turns: bench/common.py's `in_turns`, and bench/reads.py's capacity figures taken from its rounds."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.common import in_turns
from bench.reads import capacities_in_turns


def test_the_measures_take_turns_and_the_warm_up_rounds_are_left_out() -> None:
    order: list[str] = []

    def measure(name: str) -> Any:
        count = iter(range(100))

        async def one() -> str:
            order.append(name)
            return f"{name}{next(count)}"

        return one

    first, second = asyncio.run(in_turns([measure("a"), measure("b")], rounds=3, warmup=1))

    assert order == ["a", "b"] * 3
    assert (first, second) == (["a1", "a2"], ["b1", "b2"])


def test_each_capacity_figure_is_the_median_of_its_rounds() -> None:
    order: list[str] = []
    server = iter([(1000.0, 0.9), (3000.0, 0.5), (2000.0, 0.7)])
    baseline = iter([(5000.0, 0.4), (4000.0, 0.45), (100.0, 3.0)])

    def measure(name: str, rounds: Any) -> Any:
        def one() -> dict[str, Any]:
            order.append(name)
            rps, cpu_ms = next(rounds)
            return {"rps": rps, "cpu_ms": cpu_ms, "generator": "wrk"}

        return one

    ours, bare = capacities_in_turns([measure("server", server), measure("bare", baseline)], rounds=3)

    assert order == ["server", "bare"] * 3
    assert (ours["rps"], ours["cpu_ms"]) == (2000.0, 0.7)
    # The round that met a slow stretch alone (100 req/s at 3 ms) is not the figure.
    assert (bare["rps"], bare["cpu_ms"]) == (4000.0, 0.45)
    assert ours["generator"] == bare["generator"] == "wrk"
    assert [r["rps"] for r in ours["rounds"]] == [1000.0, 3000.0, 2000.0]
