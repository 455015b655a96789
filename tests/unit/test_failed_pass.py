"""A loop that starts again from its checkpoint says why a pass failed: an outage is a warning, a bug an error."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from events.log import LogUnavailable
from projections.failures import failed_pass
from projections.store import StoreUnavailable


def test_a_log_or_store_that_does_not_answer_is_a_warning_without_a_traceback() -> None:
    logger = structlog.get_logger("test")
    with capture_logs() as logs:
        failed_pass(logger, "fanout", LogUnavailable("the log cannot append (broker down)"))
        failed_pass(logger, "erasure", StoreUnavailable("the store cannot get (node restarting)"))
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("warning", "fanout pass failed; retrying in 1 s"),
        ("warning", "erasure pass failed; retrying in 1 s"),
    ]
    assert "broker down" in logs[0]["error"] and not any("exc_info" in e for e in logs)


def test_anything_else_is_an_error_with_its_traceback() -> None:
    logger = structlog.get_logger("test")
    with capture_logs() as logs:
        try:
            raise KeyError("a bug")
        except KeyError as exc:
            failed_pass(logger, "projection", exc)
    assert [(e["log_level"], e["event"], e.get("exc_info")) for e in logs] == [
        ("error", "projection pass failed; retrying in 1 s", True)
    ]
