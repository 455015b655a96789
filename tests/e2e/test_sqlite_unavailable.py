"""A SQLite error is a 503 with Retry-After and its cause in the log, never a 500 (issue 13 item 5).

The faults are real SQLite errors on the real files: a trigger that aborts every insert into
the log (SQLITE_CONSTRAINT), a collection's table dropped under the store (no such table).
"""

from __future__ import annotations

import contextlib
import sqlite3

from structlog.testing import capture_logs

from tests.e2e.conftest import Api, auth


async def test_a_log_that_cannot_write_is_a_503_with_its_cause_logged(api: Api) -> None:
    token = await api.register("ann")
    with contextlib.closing(sqlite3.connect(api.data_dir / "log.db", isolation_level=None, timeout=30)) as outside:
        outside.execute("CREATE TRIGGER refuse BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        with capture_logs() as logs:
            r = await api.client.post(
                "/api/articles",
                json={"article": {"title": "T", "description": "d", "body": "b", "tagList": []}},
                headers=auth(token),
            )
        assert r.status == 503, await r.text()
        assert int(r.headers["Retry-After"]) >= 1
        assert "log" in (await r.json())["errors"]
        assert any(e["event"] == "log_unavailable" and "disk says no" in e["error"] for e in logs), logs
        outside.execute("DROP TRIGGER refuse")
    await api.publish(token)  # the next write goes through: nothing was left half done


async def test_a_store_that_cannot_answer_is_a_503_with_its_cause_logged(api: Api) -> None:
    token = await api.register("ann")
    article = await api.publish(token)
    with contextlib.closing(sqlite3.connect(api.data_dir / "store.db", isolation_level=None, timeout=30)) as outside:
        (collection,) = outside.execute("SELECT collection FROM aliases WHERE alias='articles'").fetchone()
        outside.execute(f'DROP TABLE "c_{collection}"')
    with capture_logs() as logs:
        r = await api.client.get(f"/api/articles/{article['slug']}")
    assert r.status == 503, await r.text()
    assert int(r.headers["Retry-After"]) >= 1
    assert (await r.json())["errors"] == {"store": ["unavailable, try again later"]}
    assert any(e["event"] == "store_unavailable" and "no such table" in e["error"] for e in logs), logs
