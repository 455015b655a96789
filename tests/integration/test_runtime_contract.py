"""The runtime contract: what every `tribe worker` engine guarantees, on a real broker.

Each case ends with every document of every view equal to a clean replay of the log from
offset 0 (so no event was applied twice, a view count would show it, and none is missing; where
events were parked, a replay that leaves them out) and with every partition's checkpoint at the
head of the log. Every engine runs every case.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from events.adapters.kafka_log import KafkaLog
from events.log import Log, Record
from projections.adapters.sqlite_store import SqliteStore
from projections.dead_letters import DeadLetters
from projections.fingerprint import fingerprint
from projections.live import live_version
from projections.views import ARTICLES_VIEW, VIEWS
from replay.rebuild import all_docs, rebuild
from replay.versions import VersionStatus, status
from tests.e2e.kafka_stack import worker_process
from tests.e2e.server import TribeProcess
from tests.integration.fault_check import first_poison, once_released, only_poison, per_key, while_parked
from tests.integration.faulty_views import FAULTS, POISON, faulty_views, fixed, garbage, old_code_views, parkers
from tests.integration.projection_check import (
    differences,
    documents,
    replay_from_zero,
    total_lag,
    wait_caught_up,
    worker_counts,
)
from tests.integration.workload import burst
from tests.kafka_broker import TansuBroker
from tests.sealed import records_of_events, sealed_codec

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ENGINES = ["kafka", "faust"]


async def records_of(count: int, seed: int, duplicates: int = 0) -> list[Record]:
    """`count` events as records, `duplicates` of them appended a second time later (a client's retry)."""
    rng = random.Random(seed)
    codec = sealed_codec()
    unique = await records_of_events(codec, burst(count, seed=seed))
    placed = [(float(i), r) for i, r in enumerate(unique)]
    placed += [(rng.uniform(i + 0.5, len(unique)), unique[i]) for i in rng.sample(range(100, len(unique)), duplicates)]
    return [r for _, r in sorted(placed, key=lambda p: p[0])]


async def append_paced(log: Log, records: Sequence[Record], *, batch: int, pause: float) -> None:
    for start in range(0, len(records), batch):
        await log.append(records[start : start + batch])
        await asyncio.sleep(pause)


async def until_busy(log_path: Path, before: int, timeout: float = 60) -> None:
    """Until the worker logging to `log_path` has processed more events than `before`.

    Counted in events, not batches: a batch can end with nothing processed (all redelivered, or
    fenced while the views install), and a worker killed then has done no work to lose."""
    deadline = time.monotonic() + timeout
    while worker_counts(log_path)["processed"] <= before:
        assert time.monotonic() < deadline, "the worker never processed a batch"
        await asyncio.sleep(0.05)


async def assert_as_replayed(log: Log, store_path: Path, replay_path: Path, timeout: float = 60) -> None:
    """Every checkpoint reaches the head of the log, and every document is what a replay from zero writes."""
    store = SqliteStore(store_path)
    try:
        await wait_caught_up(log, store, timeout)
        expected = await documents(await replay_from_zero(log, replay_path))
        assert sum(len(docs) for docs in expected.values()) > 100
        assert differences(await documents(store), expected) == []
    finally:
        await store.close()


async def wait_for(path: Path, process: TribeProcess, timeout: float = 60, *, containing: str = "") -> None:
    """Until the file at `path` exists (and holds `containing`), while `process` runs."""

    def there() -> bool:
        return path.exists() and (not containing or containing in path.read_text())

    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(there):
        assert process.process is not None and process.process.poll() is None, process.output()[-3000:]
        assert time.monotonic() < deadline, f"{path.name} never appeared {containing}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("engine", ENGINES)
async def test_kill_9_during_writes_three_times(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    rng = random.Random(20240611)
    records = await records_of(6_000, seed=2, duplicates=600)
    data_dir, log_path = tmp_path / "data", tmp_path / "worker.log"
    worker = worker_process(isolated_kafka_broker.url, data_dir, log_path, "crash", engine=engine)
    if engine == "kafka":  # static membership: the restarted worker takes its partitions back without a rebalance
        worker.env["TRIBE_WORKER_INSTANCE_ID"] = "crash-worker-1"
    start = worker.start
    process = start()
    kills = 0
    try:
        quarter = len(records) // 4
        for phase in range(4):
            before = worker_counts(log_path)["processed"]
            await append_paced(kafka_log, records[phase * quarter : (phase + 1) * quarter if phase < 3 else None],
                               batch=200, pause=0.01)
            if phase == 3:
                break
            await until_busy(log_path, before)
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            process.kill()
            kills += 1
            process = start()
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=90)
    finally:
        process.stop()
    assert kills == 3


async def committed_beyond_store(log: KafkaLog, group: str, store_path: Path) -> dict[str, tuple[int, int]]:
    """Partitions whose committed offset is past the lowest checkpoint of the views that read them."""
    store = SqliteStore(store_path)
    try:
        aliases = await store.aliases()
        lowest: dict[tuple[str, int], int] = {}
        for view in VIEWS:
            version = live_version(view, aliases)
            stored = await store.checkpoint(view.projection_id(version)) if version is not None else {}
            for tp in view.partitions():
                lowest[tp] = min(lowest.get(tp, stored.get(tp, 0)), stored.get(tp, 0))
    finally:
        await store.close()
    committed = await log.committed(group)
    return {f"{t}:{p}": (offset, lowest[(t, p)]) for (t, p), offset in committed.items() if offset > lowest[(t, p)]}


@pytest.mark.parametrize("engine", ENGINES)
async def test_sigterm_in_the_middle_of_a_store_write(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    data_dir, marker = tmp_path / "data", tmp_path / "writing"
    await kafka_log.append(await records_of(3_000, seed=4))
    slow = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "slow.log", "stop", engine=engine,
                          wrapper=("tests.integration.injected_worker", "slow", str(marker))).start()
    try:
        await wait_for(marker, slow)
        assert slow.process is not None
        slow.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(slow.process.wait, 60)
    finally:
        slow.stop()
    assert code == 0, slow.output()[-3000:]
    # Nothing more is appended: the partitions the stopped batch touched must still be caught up.
    assert await committed_beyond_store(kafka_log, "stop", data_dir / "store.db") == {}
    worker = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "worker.log", "stop", engine=engine).start()
    try:
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=45)
    finally:
        worker.stop()


@pytest.mark.parametrize("engine", ENGINES)
async def test_rebalances_two_workers_one_killed_and_a_third_added_mid_stream(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    records = await records_of(8_000, seed=6, duplicates=400)
    data_dir = tmp_path / "data"

    def member(name: str) -> TribeProcess:
        return worker_process(isolated_kafka_broker.url, data_dir, tmp_path / f"{name}.log", "shared", engine=engine)

    first, second = member("first").start(), member("second").start()
    third: TribeProcess | None = None
    try:
        third_of = len(records) // 3
        await append_paced(kafka_log, records[:third_of], batch=100, pause=0.05)
        await until_busy(tmp_path / "first.log", 0)
        first.kill()
        await append_paced(kafka_log, records[third_of : 2 * third_of], batch=100, pause=0.05)
        third = member("third").start()
        await append_paced(kafka_log, records[2 * third_of :], batch=100, pause=0.05)
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=90)
    finally:
        for process in (first, second, third):
            if process is not None:
                process.stop()
    shares = {name: worker_counts(tmp_path / f"{name}.log")["processed"] for name in ("first", "second", "third")}
    assert all(share > 0 for share in shares.values()), f"a member never got partitions: {shares}"


def overlapping_owners(journal: Path) -> tuple[int, list[tuple[str, str, int, int]]]:
    """From a journal of view writes: how many partitions more than one worker wrote, and every pair of writes of
    one partition by two workers whose times overlap (projection, partition, the two workers' pids)."""
    by_partition: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in journal.read_text().splitlines():
        write = json.loads(line)
        for tp in write["partitions"]:
            by_partition.setdefault((write["projection"], tp), []).append(write)
    moved = sum(1 for writes in by_partition.values() if len({w["pid"] for w in writes}) > 1)
    overlaps = [
        (projection, tp, a["pid"], b["pid"])
        for (projection, tp), writes in by_partition.items()
        for a in writes
        for b in writes
        if a["pid"] < b["pid"] and a["started"] < b["ended"] and b["started"] < a["ended"]
    ]
    return moved, overlaps


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_partition_that_moves_is_never_written_by_its_old_and_new_owner_at_once(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    """Every write of the articles view takes 2 s, so a worker is nearly always in one when a second joins and
    takes half the partitions: the first must finish it before they move, and write none of theirs after."""
    data_dir, journal = tmp_path / "data", tmp_path / "writes.jsonl"

    def member(name: str) -> TribeProcess:
        return worker_process(isolated_kafka_broker.url, data_dir, tmp_path / f"{name}.log", "moving", engine=engine,
                              wrapper=("tests.integration.injected_worker", "journal", str(journal)))

    records = await records_of(4_500, seed=21)
    first, second = member("first").start(), None
    try:
        await append_paced(kafka_log, records[:1_500], batch=100, pause=0.02)
        await wait_for(journal, first)
        second = member("second").start()
        await append_paced(kafka_log, records[1_500:3_000], batch=20, pause=0.1)  # while the second joins
        await wait_for(tmp_path / "second.log", second, containing='"event":"partitions_assigned"')
        await append_paced(kafka_log, records[3_000:], batch=20, pause=0.05)
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=120)
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
    moved, overlaps = overlapping_owners(journal)
    assert moved > 0, "no partition moved to the second worker"
    assert overlaps == [], f"{len(overlaps)} writes of a partition by its old owner while its new owner wrote it"


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_store_write_failing_mid_batch(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    data_dir, marker = tmp_path / "data", tmp_path / "failures"
    failing = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "failing.log", "failing", engine=engine,
                             wrapper=("tests.integration.injected_worker", "failing", str(marker))).start()
    try:
        await append_paced(kafka_log, await records_of(4_000, seed=8, duplicates=200), batch=100, pause=0.02)
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=60)
        assert failing.process is not None and failing.process.poll() is None, "the worker stopped, not retried"
    finally:
        failing.stop()
    assert len(marker.read_text().splitlines()) == 2, "the store did not fail two writes"
    assert "batch_failed_retrying" in failing.output()


# -- faults stay local: a failing view, poison events, each engine ------------------------------------

FAST_RETRIES = {"TRIBE_PROJECTION_RETRIES": "2", "TRIBE_PROJECTION_BACKOFF": "0.05"}


async def live_states(store: SqliteStore, log: Log) -> dict[str, dict[str, Any]]:
    """Per view that has one (a worker installs them in turn), its live version as `tribe replay status` shows it."""
    return {v.view: dict(s.as_json()) for v in await status(log, store, VIEWS) for s in v.versions if s.live}


def notifications_down(url: str, data_dir: Path, log_path: Path, group: str, engine: str, marker: Path) -> TribeProcess:
    """A worker whose every write of the notifications view fails while `marker` exists."""
    marker.touch()
    worker = worker_process(url, data_dir, log_path, group, engine=engine,
                            wrapper=("tests.integration.injected_worker", "notifications-down", str(marker)))
    worker.env.update(FAST_RETRIES)
    return worker


async def until_the_others_go_on(log: Log, store: SqliteStore, worker: TribeProcess) -> dict[str, Any]:
    """Until every view but notifications has caught up and notifications is reported retrying; its state then."""
    deadline = time.monotonic() + 90
    while True:
        assert worker.process is not None and worker.process.poll() is None, worker.output()[-3000:]
        states = await live_states(store, log)
        others = [s for view, s in states.items() if view != "notifications"]
        caught_up = len(states) == len(VIEWS) and all(sum(s["lag"].values()) == 0 for s in others)
        # A write's failure is seen when its view is next offered a batch or settled, which can come
        # after the other views' writes of the same batch are stored: wait for the report too.
        if caught_up and states["notifications"]["state"] == "retrying":
            break
        assert time.monotonic() < deadline, (
            "the other views stopped with the failing one" if not caught_up
            else f"the failing view was never reported retrying: {states['notifications']}"
        )
        await asyncio.sleep(0.25)
    failing = states["notifications"]
    assert failing["state"] == "retrying" and sum(failing["lag"].values()) > 0
    assert "ConnectionError: the notifications index does not answer" in failing["runners"][0]["error"]
    assert {view: s["state"] for view, s in states.items() if view != "notifications"} == dict.fromkeys(
        ("users", "follows", "articles", "tribes", "trending", "timelines", "moderation"), "running"
    )
    return dict(failing)


async def while_notifications_fail(
    log: KafkaLog, records: Sequence[Record], data_dir: Path, worker: TribeProcess
) -> dict[str, Any]:
    """Append `records` while `worker` fails every notifications write; that view's state once the others caught up."""
    await append_paced(log, records, batch=100, pause=0.01)
    await wait_for(data_dir / "store.db", worker)
    store = SqliteStore(data_dir / "store.db")
    try:
        return await until_the_others_go_on(log, store, worker)
    finally:
        await store.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_failing_view_is_retried_and_reported_while_the_others_go_on(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    data_dir, marker = tmp_path / "data", tmp_path / "notifications-down"
    worker = notifications_down(isolated_kafka_broker.url, data_dir, tmp_path / "worker.log", "down", engine, marker)
    worker.start()
    try:
        await while_notifications_fail(kafka_log, await records_of(3_000, seed=12), data_dir, worker)
        marker.unlink()
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=60)
        store = SqliteStore(data_dir / "store.db")
        try:
            assert (await live_states(store, kafka_log))["notifications"]["state"] == "running"
            assert await store.dead_letters() == []
        finally:
            await store.close()
        assert worker.process is not None and worker.process.poll() is None, "the worker stopped"
    finally:
        worker.stop()


async def until_committed_past(log: KafkaLog, group: str, checkpoint: dict[str, int]) -> None:
    """Until the group's committed offset of some partition passes this checkpoint's (a view's next offsets)."""
    deadline = time.monotonic() + 30
    while True:
        committed = {f"{t}:{p}": o for (t, p), o in (await log.committed(group)).items()}
        if any(committed.get(tp, 0) > at for tp, at in checkpoint.items()):
            return
        assert time.monotonic() < deadline, f"committed {committed}, the failing view at {checkpoint}"
        await asyncio.sleep(0.25)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_view_failing_when_its_worker_stops_is_caught_up_by_the_next_with_nothing_more_appended(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    """The next worker starts each partition where the store says, whatever the group committed.

    Faust commits what its agents acknowledged, which passes what the failing view stored: a worker
    that started there would leave the view behind until its partitions' next events.
    """
    data_dir, marker, group = tmp_path / "data", tmp_path / "notifications-down", "handover"
    down = notifications_down(isolated_kafka_broker.url, data_dir, tmp_path / "down.log", group, engine, marker)
    down.start()
    try:
        failing = await while_notifications_fail(kafka_log, await records_of(2_000, seed=14), data_dir, down)
        if engine == "faust":
            await until_committed_past(kafka_log, group, failing["checkpoint"])
    finally:
        down.stop()
    marker.unlink()
    up = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "up.log", group, engine=engine)
    up.start()
    try:
        await assert_as_replayed(kafka_log, data_dir / "store.db", tmp_path / "replay.db", timeout=60)
    finally:
        up.stop()


async def poisoned(fault: str) -> list[Record]:
    codec = sealed_codec()
    records = await records_of_events(codec, burst(3_000, seed=31, articles=20))
    if fault == "undecodable":
        poison_at = [i for i, r in enumerate(records) if r.key == POISON.encode()]
        records.insert(poison_at[len(poison_at) // 3], garbage())
    return records


@pytest.mark.parametrize(("engine", "fault"), [*(("kafka", f) for f in FAULTS), ("faust", "undecodable")])
async def test_poison_events_are_parked_with_their_key_and_every_other_key_goes_on(
    engine: str, fault: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    worker = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "worker.log", "poison", engine=engine,
                            wrapper=("tests.integration.injected_worker", "faulty", fault))
    worker.env.update(FAST_RETRIES)
    worker.start()
    try:
        await append_paced(kafka_log, await poisoned(fault), batch=200, pause=0.01)
        await wait_for(data_dir / "store.db", worker)
        store = SqliteStore(data_dir / "store.db")
        try:
            await wait_caught_up(kafka_log, store, 90)
            at = await first_poison(kafka_log, fault)
            letters = await store.dead_letters()
            parked = only_poison(letters, at)
            assert set(parked) == parkers(fault)
            assert all(states[0] == "failed" and set(states[1:]) == {"behind"} for states in parked.values()), parked
            expected = await while_parked(kafka_log, tmp_path / "clean.db", fault)
            assert differences(await documents(store), expected) == []
            assert (await live_states(store, kafka_log))["articles"]["state"] == "parked"

            # The fault fixed (the same code, so the same fingerprint): its key retried, or the bytes skipped.
            views = faulty_views(fault)
            fixed(views)
            dead_letters = DeadLetters(kafka_log, store, sealed_codec(), views)
            for failed in [x for x in letters if x.state == "failed"]:
                retried = await (dead_letters.skip if fault == "undecodable" else dead_letters.retry)(failed.id)
                assert retried.failed is None
            assert await store.dead_letters() == []
            released = await once_released(kafka_log, tmp_path / "released.db", fault)
            assert differences(per_key(await documents(store)), per_key(released)) == []
        finally:
            await store.close()
        assert worker.process is not None and worker.process.poll() is None, "the worker stopped"
    finally:
        worker.stop()


# -- a code change: the old release's workers keep writing across a switch -------------------------


def runner_of(worker: TribeProcess) -> str:
    """The name a worker without an instance id reports its views' status under: host and process."""
    assert worker.process is not None
    return f"{socket.gethostname()}:{worker.process.pid}"


async def eventually(
    holds: Callable[[], Awaitable[bool]], what: str, workers: Sequence[TribeProcess], timeout: float = 45
) -> None:
    deadline = time.monotonic() + timeout
    while not await holds():
        for worker in workers:
            assert worker.process is not None and worker.process.poll() is None, worker.output()[-3000:]
        assert time.monotonic() < deadline, "\n".join([what, *(w.output()[-3000:] for w in workers)])
        await asyncio.sleep(0.25)


async def articles_versions(log: Log, store: SqliteStore) -> dict[int, VersionStatus]:
    (articles,) = [v for v in await status(log, store, VIEWS) if v.view == "articles"]
    return {v.version: v for v in articles.versions}


async def runner_states(log: Log, store: SqliteStore, version: int) -> dict[str, str]:
    """Each runner heard from on this version of the articles view, and its state."""
    found = (await articles_versions(log, store)).get(version)
    return {r.runner: r.state for r in found.runners} if found else {}


async def keep_appending(log: Log, records: Sequence[Record], sent: list[int], stop: asyncio.Event) -> None:
    """Append `records` 20 at a time, 4 batches a second, until `stop` (or the end); `sent[0]` counts them."""
    while sent[0] < len(records) and not stop.is_set():
        batch = records[sent[0] : sent[0] + 20]
        await log.append(batch)
        sent[0] += len(batch)
        await asyncio.sleep(0.25)


async def caught_up(log: Log, store: SqliteStore) -> bool:
    return await total_lag(log, store) == 0


async def handed_events(log_path: Path) -> bool:
    """Whether the worker logging to `log_path` was handed a batch: it consumes its partitions."""
    return worker_counts(log_path)["delivered"] > 0


async def committed_at_head(log: KafkaLog, group: str) -> bool:
    partitions = sorted({tp for view in VIEWS for tp in view.partitions()})
    heads = {tp: end for tp, end in (await log.end_offsets(partitions)).items() if end}
    committed = await log.committed(group)
    return {tp: committed.get(tp) for tp in heads} == heads


@pytest.mark.timeout(90)
@pytest.mark.parametrize("engine", ENGINES)
async def test_after_a_switch_old_code_leaves_the_new_version_alone(
    engine: str, isolated_kafka_broker: TansuBroker, kafka_log: KafkaLog, tmp_path: Path
) -> None:
    """A release changes the articles reducer: its workers start in a group of their own beside the old
    release's, `tribe replay articles` builds the next version with the new code and switches while both
    releases run and events keep coming. Each writes only the version its code builds."""
    old_articles = next(v for v in old_code_views() if v.name == "articles")
    assert fingerprint(old_articles) != fingerprint(ARTICLES_VIEW)
    records = await records_of_events(sealed_codec(), burst(3_000, seed=41, articles=15))
    data_dir = tmp_path / "data"
    old = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "old.log", "old", engine=engine,
                         wrapper=("tests.integration.injected_worker", "old-code")).start()
    new: TribeProcess | None = None
    stop, sent = asyncio.Event(), [0]
    writing: asyncio.Task[None] | None = None
    try:
        await kafka_log.append(records[:600])
        await wait_for(data_dir / "store.db", old)
        store = SqliteStore(data_dir / "store.db")
        try:
            await eventually(lambda: caught_up(kafka_log, store), "the old code never caught up", [old])
            live = ARTICLES_VIEW.version

            # 1. The new release starts while events keep coming: it leaves the old code's live version alone.
            writing = asyncio.create_task(keep_appending(kafka_log, records[600:], sent, stop))
            new = worker_process(isolated_kafka_broker.url, data_dir, tmp_path / "new.log", "new",
                                 engine=engine).start()
            names = {"old": runner_of(old), "new": runner_of(new)}

            async def fenced_on(version: int, runner: str) -> bool:
                return (await runner_states(kafka_log, store, version)).get(names[runner]) == "fenced"

            await eventually(lambda: fenced_on(live, "new"), "the new code never left the old version alone",
                             [old, new])
            await eventually(partial(handed_events, tmp_path / "new.log"), "the new code was never handed events",
                             [old, new])
            assert await runner_states(kafka_log, store, live) == {names["old"]: "running", names["new"]: "fenced"}

            # 2. Replay with the new code and switch, while both run and events keep coming.
            result = await rebuild(kafka_log, store, sealed_codec(), ARTICLES_VIEW)
            assert result.switched and result.version == live + 1
            at_switch = sent[0]
            # 3. The old code sees the switch by itself, with events still coming.
            await eventually(lambda: fenced_on(live + 1, "old"), "the old code never left the new version alone",
                             [old, new])
            stop.set()
            await writing
            assert sent[0] > at_switch, "no event came after the switch"
            if rest := records[600 + sent[0] :]:
                await kafka_log.append(rest)

            await eventually(lambda: caught_up(kafka_log, store), "the views never reached the head", [old, new],
                             timeout=60)
            # The old release's group goes on committing: its fenced view holds back nothing.
            await eventually(partial(committed_at_head, kafka_log, "old"), "the old code's commits stopped short",
                             [old, new])
            versions = await articles_versions(kafka_log, store)
            assert versions[live + 1].fingerprint == fingerprint(ARTICLES_VIEW)
            assert versions[live].fingerprint == fingerprint(old_articles)
            assert await runner_states(kafka_log, store, live + 1) == {
                names["old"]: "fenced", names["new"]: "running"
            }
            # The old code wrote nothing of the new version, nor the new code of the old one.
            titles = {
                version: {body["title"] for _, body in (await all_docs(
                    store, ARTICLES_VIEW.physical("articles", version))).values()}
                for version in (live, live + 1)
            }
            assert titles[live] and all(t == t.upper() for t in titles[live]), titles[live]
            assert titles[live + 1] and not any(t == t.upper() for t in titles[live + 1]), titles[live + 1]
            clean = await replay_from_zero(kafka_log, tmp_path / "replay.db")
            try:
                assert differences(await documents(store), await documents(clean)) == []
            finally:
                await clean.close()
        finally:
            await store.close()
    finally:
        stop.set()
        if writing is not None:
            await writing
        for worker in (old, new):
            if worker is not None:
                worker.stop()

