"""Answers: JSON serialised with orjson, and a write's outcome as the status and headers it calls for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from services.outcome import Outcome, Pending, Written

T = TypeVar("T")
POSITION_HEADER = "X-Tribe-Position"


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """orjson, not the standard library's encoder: that was a tenth of a feed request."""
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def accepted(written: Written) -> web.Response:
    """Durable at these positions, not projected within the wait: 202 and where to read from."""
    return json_response(
        {"status": "accepted", "positions": [p.token() for p in written.positions]},
        status=202,
        headers={POSITION_HEADER: written.token()},
    )


def answer(outcome: Outcome[T], present: Callable[[T], Any], status: int = 200) -> web.Response:
    """A write's answer: its read model presented, with the position token for read-your-writes; or 202."""
    if isinstance(outcome, Pending):
        return accepted(outcome.written)
    return json_response(present(outcome.value), status=status, headers={POSITION_HEADER: outcome.written.token()})


def no_content(outcome: Outcome[None]) -> web.Response:
    """A deletion's answer: 204 once projected, or 202."""
    if isinstance(outcome, Pending):
        return accepted(outcome.written)
    return web.Response(status=204, headers={POSITION_HEADER: outcome.written.token()})
