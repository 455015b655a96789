"""Read-model answers kept for a while (projections/kept.py): what the token generations and the tag list share."""

from __future__ import annotations

import asyncio

import pytest

from projections import kept as kept_module
from projections.kept import Kept


class Answers:
    """A read that counts its calls and finishes when the test releases it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self, key: str) -> str:
        self.calls.append(key)
        answer = f"{key}@{len(self.calls)}"
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the store is unavailable")
        return answer


async def test_requests_that_come_while_an_answer_is_computed_share_it_per_key() -> None:
    answers = Answers()
    kept = Kept(answers, ttl=1.0, clock=lambda: 0.0)
    waiting = [asyncio.ensure_future(kept.get(k)) for k in ("a", "a", "b", "a")]
    await asyncio.sleep(0)
    answers.release.set()
    assert await asyncio.gather(*waiting) == ["a@1", "a@1", "b@2", "a@1"]
    assert answers.calls == ["a", "b"]


async def test_an_answer_is_served_for_its_ttl_and_fresh_or_forget_computes_it_again() -> None:
    answers = Answers()
    answers.release.set()
    now = [10.0]
    kept = Kept(answers, ttl=1.0, clock=lambda: now[0])
    assert await kept.get("a") == "a@1"
    now[0] += 0.9
    assert await kept.get("a") == "a@1"
    now[0] += 0.1
    assert await kept.get("a") == "a@2", "the ttl counts from when the computation started"
    assert await kept.get("a", fresh=True) == "a@3"
    kept.forget("a")
    assert await kept.get("a") == "a@4"


async def test_a_key_forgotten_while_its_answer_is_computed_is_computed_again_for_later_requests() -> None:
    answers = Answers()
    kept = Kept(answers, ttl=60.0, clock=lambda: 0.0)
    before = asyncio.ensure_future(kept.get("a"))
    await asyncio.sleep(0)
    kept.forget("a")  # e.g. a logout through this process, while a request reads the old generation
    after = asyncio.ensure_future(kept.get("a"))
    await asyncio.sleep(0)
    answers.release.set()
    assert (await before, await after) == ("a@1", "a@2")


async def test_a_failure_reaches_every_waiting_request_and_is_not_kept() -> None:
    answers = Answers()
    answers.fail = True
    kept = Kept(answers, ttl=60.0, clock=lambda: 0.0)
    waiting = [asyncio.ensure_future(kept.get("a")) for _ in range(3)]
    await asyncio.sleep(0)
    answers.release.set()
    for request in waiting:
        with pytest.raises(RuntimeError):
            await request
    answers.fail = False
    assert await kept.get("a") == "a@2"


async def test_a_cancelled_request_leaves_the_computation_to_the_others() -> None:
    answers = Answers()
    kept = Kept(answers, ttl=60.0, clock=lambda: 0.0)
    gone, staying = asyncio.ensure_future(kept.get("a")), asyncio.ensure_future(kept.get("a"))
    await asyncio.sleep(0)
    gone.cancel()
    answers.release.set()
    assert await staying == "a@1"
    assert gone.cancelled()


async def test_past_its_key_limit_it_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kept_module, "KEPT_KEYS", 2)
    answers = Answers()
    answers.release.set()
    kept = Kept(answers, ttl=60.0, clock=lambda: 0.0)
    for key in ("a", "b", "c", "a"):
        await kept.get(key)
    assert answers.calls == ["a", "b", "c", "a"], "the third key dropped the first two"
    await kept.get("c")
    assert answers.calls == ["a", "b", "c", "a"], "the key that started over is kept"
