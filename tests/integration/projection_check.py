"""Helpers for the Kafka integration tests: wait for workers, replay from zero, compare every document."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from events.log import Log
from projections.adapters.sqlite_store import SqliteStore
from projections.live import install, live_version
from projections.processor import Projector
from projections.store import Store
from projections.views import VIEWS
from replay.rebuild import all_docs, catch_up
from replay.versions import heads, lag_of
from tests.sealed import sealed_codec

Documents = dict[str, dict[str, tuple[int, dict[str, Any]]]]


async def total_lag(log: Log, store: Store) -> int | None:
    """Events the live versions of all views still have to apply; None while a view is not installed."""
    aliases = await store.aliases()
    lag = 0
    for view in VIEWS:
        version = live_version(view, aliases)
        if version is None:
            return None
        lag += sum((await lag_of(store, view, version, await heads(log, view))).values())
    return lag


async def wait_caught_up(log: Log, store: Store, timeout: float) -> float:
    """Seconds it took until every view reflects the whole log; raise if `timeout` passes first."""
    started = time.monotonic()
    while True:
        lag = await total_lag(log, store)
        if lag == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"the workers did not catch up within {timeout} s (lag {lag})")
        await asyncio.sleep(0.25)


async def replay_from_zero(log: Log, path: Path) -> SqliteStore:
    """A fresh store fed from offset 0 through the one write path: what the documents must be."""
    store = SqliteStore(path)
    await install(store, VIEWS)
    codec = sealed_codec()
    for view in VIEWS:
        await catch_up(log, Projector(store, codec, view))
    return store


async def documents(store: Store) -> Documents:
    """Every document of every view's live collections: alias -> id -> (version, body)."""
    return {alias: await all_docs(store, alias) for view in VIEWS for alias in view.collections}


def differences(actual: Documents, expected: Documents) -> list[str]:
    out = []
    for alias in sorted(set(actual) | set(expected)):
        a, e = actual.get(alias, {}), expected.get(alias, {})
        out.extend(
            f"{alias}/{doc_id}: {a.get(doc_id)} != {e.get(doc_id)}"
            for doc_id in sorted(set(a) | set(e))
            if a.get(doc_id) != e.get(doc_id)
        )
    return out


def worker_counts(log_path: Path) -> dict[str, int]:
    """Totals of the workers' per-batch lines in a log file: delivered, processed, redelivered, filled."""
    totals = {"delivered": 0, "processed": 0, "redelivered": 0, "filled": 0, "batches": 0}
    for line in log_path.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if record.get("event") == "projected":
            totals["batches"] += 1
            for key in ("delivered", "processed", "redelivered", "filled"):
                totals[key] += int(record[key])
    return totals
