"""The erasure runner on the embedded log: it carries out an erasure behind bytes that are no event."""

from __future__ import annotations

from pathlib import Path

from events.adapters.sqlite_log import SqliteLog
from events.catalogue import UserErased, UserRegistered
from events.log import Record
from events.routing import USERS
from projections.adapters.sqlite_store import SqliteStore
from projections.embedded import EmbeddedRuntime
from projections.live import install
from projections.views import VIEWS
from services.erasure_runner import CHECKPOINT
from tests.sealed import records_of_events, sealed_codec
from tribe.bootstrap import erasure_runner
from tribe.settings import Settings


async def test_bytes_that_are_no_event_do_not_stop_the_erasures_behind_them(tmp_path: Path) -> None:
    codec = sealed_codec()
    log, store = SqliteLog(tmp_path / "log.db"), SqliteStore(tmp_path / "store.db")
    try:
        await install(store, VIEWS)
        registered = UserRegistered(event_id="r-gone", actor_id="u-gone-behind-poison", occurred_at=1,
                                    username="gonebehind", email="gone@behind.example", password_hash="h")
        erased = UserErased(event_id="x-gone", actor_id="u-gone-behind-poison", occurred_at=2)
        (first,) = await records_of_events(codec, [registered])
        (last,) = await records_of_events(codec, [erased])
        await log.append([first, Record(USERS, 0, b"poison", b"these bytes are not an event", "poison-id"), last])
        await EmbeddedRuntime(log, store, codec, VIEWS).run_once()
        runner = erasure_runner(Settings.from_env(), log, store, codec)
        runner.grace = 0.0
        assert await runner.run_once() == 3
        assert (await store.checkpoint(CHECKPOINT)) == {(USERS, 0): 3}
        assert codec.ring().key("u-gone-behind-poison") is None
        await codec.prepare_to_decode([first.value])
        decoded = codec.decode(first.value)
        assert isinstance(decoded, UserRegistered) and decoded.email == ""  # no copy of the log opens it any more
    finally:
        await store.close()
        await log.close()
