"""How an idle follower waits (events/log.py `until_appended`): woken by appends, polling only as a safety net."""

from __future__ import annotations

import asyncio
import time

import pytest

from events import log


async def test_a_wake_up_already_given_returns_at_once_and_is_taken() -> None:
    wakeup = asyncio.Event()
    wakeup.set()
    started = time.monotonic()
    await log.until_appended(wakeup, poll=5.0)
    assert time.monotonic() - started < 0.5
    assert not wakeup.is_set()


async def test_an_append_during_the_wait_ends_it() -> None:
    wakeup = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wakeup.set)
    started = time.monotonic()
    await log.until_appended(wakeup, poll=5.0)
    assert 0.04 <= time.monotonic() - started < log.WOKEN_POLL
    assert not wakeup.is_set()


async def test_without_appends_a_woken_follower_looks_again_after_woken_poll_not_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log, "WOKEN_POLL", 0.1)
    started = time.monotonic()
    await log.until_appended(asyncio.Event(), poll=0.001)
    assert time.monotonic() - started >= 0.1


async def test_without_a_wake_up_it_polls() -> None:
    started = time.monotonic()
    await log.until_appended(None, poll=0.05)
    assert 0.05 <= time.monotonic() - started < log.WOKEN_POLL


async def test_a_cancelled_wait_is_cancelled() -> None:
    waiting = asyncio.create_task(log.until_appended(asyncio.Event(), poll=0.01))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_paced_follower_waits_its_pace_even_when_woken_at_once() -> None:
    """Every append wakes every follower: one that paces itself passes no more often than its pace."""
    wakeup = asyncio.Event()
    wakeup.set()
    started = time.monotonic()
    await log.until_appended(wakeup, poll=5.0, pace=0.1)
    assert 0.1 <= time.monotonic() - started < log.WOKEN_POLL
    assert not wakeup.is_set()


async def test_an_append_during_the_pace_ends_the_wait_when_the_pace_does() -> None:
    wakeup = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, wakeup.set)
    started = time.monotonic()
    await log.until_appended(wakeup, poll=5.0, pace=0.1)
    assert 0.1 <= time.monotonic() - started < log.WOKEN_POLL
